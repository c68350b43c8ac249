from django.urls import path

from labeling import views, views_demonstrations, views_evaluation, views_exports, views_quality, views_training

app_name = "labeling"

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("p/<slug:slug>/", views.label, name="label"),
    path("p/<slug:slug>/decide/", views.decide, name="decide"),
    path("p/<slug:slug>/undo/", views.undo, name="undo"),
    path("p/<slug:slug>/import/", views.import_data, name="import"),
    path("p/<slug:slug>/export/", views_exports.export_data, name="export"),
    path("p/<slug:slug>/quality/", views_quality.quality, name="quality"),
    path(
        "p/<slug:slug>/quality/annotators/<int:user_id>/pause/",
        views_quality.annotator_pause_toggle,
        name="annotator_pause",
    ),
    path("p/<slug:slug>/training/", views_training.dashboard, name="dashboard"),
    path("p/<slug:slug>/training/start/", views_training.run_start, name="run_start"),
    path("p/<slug:slug>/training/runs/<int:run_id>/cancel/", views_training.run_cancel, name="run_cancel"),
    path("p/<slug:slug>/training/runs/<int:run_id>/end/", views_training.run_end_stalled, name="run_end_stalled"),
    path("p/<slug:slug>/training/resume/", views_training.loop_resume, name="loop_resume"),
    path("p/<slug:slug>/demonstrate/", views_demonstrations.demonstrate, name="demonstrate"),
    path("p/<slug:slug>/write/", views_demonstrations.write, name="write"),
    path("p/<slug:slug>/demonstrations/import/", views_demonstrations.demonstrations_import,
         name="demonstrations_import"),
    path("p/<slug:slug>/training/sft/", views_demonstrations.sft_start, name="sft_start"),
    path("p/<slug:slug>/training/reference/", views_demonstrations.reference_set, name="reference_set"),
    path("p/<slug:slug>/training/evaluate/", views_evaluation.evaluation_start, name="evaluation_start"),
    path("p/<slug:slug>/training/evaluation-split/", views_evaluation.evaluation_split, name="evaluation_split"),
]
