"""/api/…: every view is exempt from the login redirect; DRF authenticates (token or session)."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path, re_path
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from labeling.api import views_data, views_evaluation, views_labeling, views_quality, views_training
from labeling.api.views_auth import TokenCreate

app_name = "api"


@extend_schema(exclude=True)
class NoSuchEndpoint(APIView):
    """Any other /api/ address: a JSON 404 (not the HTML page), whatever the method."""

    permission_classes = [AllowAny]

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise NotFound("No such API endpoint.")

    get = post = put = patch = delete = http_method_not_allowed


def api(view_class, **initkwargs):
    return login_not_required(view_class.as_view(**initkwargs))


P = "projects/<slug:slug>/"
urlpatterns = [
    path("auth/token/", api(TokenCreate), name="token"),
    path("projects/", api(views_labeling.ProjectList), name="projects"),
    path(P, api(views_labeling.ProjectDetail), name="project"),
    path(P + "tasks/next/", api(views_labeling.NextTask), name="task_next"),
    path(P + "tasks/submit/", api(views_labeling.Submit), name="task_submit"),
    path(P + "tasks/skip/", api(views_labeling.Skip), name="task_skip"),
    path(P + "tasks/flag/", api(views_labeling.Flag), name="task_flag"),
    path(P + "tasks/undo/", api(views_labeling.Undo), name="task_undo"),
    path(P + "tasks/", api(views_data.TaskList), name="tasks"),
    path(P + "prompts/", api(views_data.PromptList), name="prompts"),
    path(P + "choices/", api(views_data.ChoiceList), name="choices"),
    path(P + "imports/", api(views_data.ImportCreate), name="imports"),
    path(P + "exports/", api(views_data.ExportList), name="exports"),
    path(P + "exports/<str:name>/", api(views_data.ExportDownload), name="export_download"),
    path(P + "policies/", api(views_training.PolicyList), name="policies"),
    path(P + "reward-models/", api(views_training.RewardModelList), name="reward_models"),
    path(P + "runs/", api(views_training.RunList), name="runs"),
    path(P + "runs/<int:run_id>/", api(views_training.RunDetail), name="run"),
    path(P + "runs/<int:run_id>/cancel/", api(views_training.RunCancel), name="run_cancel"),
    path(P + "quality/", api(views_quality.QualityDetail), name="quality"),
    path(P + "evaluations/", api(views_evaluation.EvaluationList), name="evaluations"),
    path(P + "evaluations/split/", api(views_evaluation.EvaluationSplit), name="evaluation_split"),
    re_path(r"", api(NoSuchEndpoint)),
]
