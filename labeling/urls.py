from django.urls import path

from labeling.views import demonstrations, evaluation, exports, labeling, quality, training

app_name = "labeling"

urlpatterns = [
    path("", labeling.project_list, name="project_list"),
    path("p/<slug:slug>/", labeling.label, name="label"),
    path("p/<slug:slug>/decide/", labeling.decide, name="decide"),
    path("p/<slug:slug>/undo/", labeling.undo, name="undo"),
    path("p/<slug:slug>/import/", labeling.import_data, name="import"),
    path("p/<slug:slug>/export/", exports.export_data, name="export"),
    path("p/<slug:slug>/quality/", quality.quality, name="quality"),
    path(
        "p/<slug:slug>/quality/annotators/<int:user_id>/pause/",
        quality.annotator_pause_toggle,
        name="annotator_pause",
    ),
    path("p/<slug:slug>/training/", training.dashboard, name="dashboard"),
    path("p/<slug:slug>/training/start/", training.run_start, name="run_start"),
    path("p/<slug:slug>/training/runs/<int:run_id>/cancel/", training.run_cancel, name="run_cancel"),
    path("p/<slug:slug>/training/runs/<int:run_id>/end/", training.run_end_stalled, name="run_end_stalled"),
    path("p/<slug:slug>/training/resume/", training.loop_resume, name="loop_resume"),
    path("p/<slug:slug>/demonstrate/", demonstrations.demonstrate, name="demonstrate"),
    path("p/<slug:slug>/write/", demonstrations.write, name="write"),
    path("p/<slug:slug>/demonstrations/import/", demonstrations.demonstrations_import,
         name="demonstrations_import"),
    path("p/<slug:slug>/training/sft/", demonstrations.sft_start, name="sft_start"),
    path("p/<slug:slug>/training/reference/", demonstrations.reference_set, name="reference_set"),
    path("p/<slug:slug>/training/evaluate/", evaluation.evaluation_start, name="evaluation_start"),
    path("p/<slug:slug>/training/evaluation-split/", evaluation.evaluation_split, name="evaluation_split"),
]
