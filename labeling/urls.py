from django.urls import path

from labeling import views

app_name = "labeling"

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("p/<slug:slug>/", views.label, name="label"),
    path("p/<slug:slug>/decide/", views.decide, name="decide"),
    path("p/<slug:slug>/undo/", views.undo, name="undo"),
    path("p/<slug:slug>/import/", views.import_data, name="import"),
]
