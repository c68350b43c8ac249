"""/api/…: every view is exempt from the login redirect; DRF authenticates (token or session)."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path, re_path
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from labeling.api.views import data, evaluation, labeling, quality, training
from labeling.api.views.auth import TokenCreate

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
    path("projects/", api(labeling.ProjectList), name="projects"),
    path(P, api(labeling.ProjectDetail), name="project"),
    path(P + "tasks/next/", api(labeling.NextTask), name="task_next"),
    path(P + "tasks/submit/", api(labeling.Submit), name="task_submit"),
    path(P + "tasks/skip/", api(labeling.Skip), name="task_skip"),
    path(P + "tasks/flag/", api(labeling.Flag), name="task_flag"),
    path(P + "tasks/undo/", api(labeling.Undo), name="task_undo"),
    path(P + "tasks/", api(data.TaskList), name="tasks"),
    path(P + "prompts/", api(data.PromptList), name="prompts"),
    path(P + "choices/", api(data.ChoiceList), name="choices"),
    path(P + "imports/", api(data.ImportCreate), name="imports"),
    path(P + "exports/", api(data.ExportList), name="exports"),
    path(P + "exports/<str:name>/", api(data.ExportDownload), name="export_download"),
    path(P + "policies/", api(training.PolicyList), name="policies"),
    path(P + "reward-models/", api(training.RewardModelList), name="reward_models"),
    path(P + "runs/", api(training.RunList), name="runs"),
    path(P + "runs/<int:run_id>/", api(training.RunDetail), name="run"),
    path(P + "runs/<int:run_id>/cancel/", api(training.RunCancel), name="run_cancel"),
    path(P + "quality/", api(quality.QualityDetail), name="quality"),
    path(P + "evaluations/", api(evaluation.EvaluationList), name="evaluations"),
    path(P + "evaluations/split/", api(evaluation.EvaluationSplit), name="evaluation_split"),
    re_path(r"", api(NoSuchEndpoint)),
]
