"""Staff training endpoints: policy and reward-model versions, training runs."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api import selectors
from labeling.api.base import Conflict, ProjectScoped, responses, validated
from labeling.api.serializers import PolicyOut, RewardModelOut, RunDetailOut, RunOut
from labeling.models import TrainingRun
from labeling.services import runs as run_services


@extend_schema_view(get=extend_schema(summary="Policy versions, newest first", responses=responses(PolicyOut(many=True))))
class PolicyList(ProjectScoped, generics.ListAPIView):
    serializer_class = PolicyOut

    def get_queryset(self):
        return selectors.policies_of(project=self.project)


@extend_schema_view(get=extend_schema(summary="Reward-model versions, newest first",
                                      responses=responses(RewardModelOut(many=True))))
class RewardModelList(ProjectScoped, generics.ListAPIView):
    serializer_class = RewardModelOut

    def get_queryset(self):
        return selectors.reward_models_of(project=self.project)


class RunStartIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TrainingRun.Kind.choices)
    continue_loop = serializers.BooleanField(
        default=False, help_text="on success, start the next stage: reward → policy → sampling"
    )


@extend_schema_view(
    get=extend_schema(summary="Training runs, newest first", responses=responses(RunOut(many=True))),
    post=extend_schema(
        summary="Start a training round",
        description="Queues the round for a worker. 409 while another run of the project is "
        "queued or running; poll the run for status and metrics.",
        request=RunStartIn, responses=responses(RunDetailOut, 400, 409, status=201),
    ),
)
class RunList(ProjectScoped, generics.ListAPIView):
    serializer_class = RunOut

    def get_queryset(self):
        return selectors.runs_of(project=self.project)

    def post(self, request, slug):
        data = validated(RunStartIn, request.data)
        try:
            run = run_services.run_start(
                project=self.project, kind=data["kind"], trigger=f"api: {request.user.get_username()}",
                user=request.user, continue_loop=data["continue_loop"],
            )
        except run_services.RunConflict as exc:
            raise Conflict(str(exc)) from None
        except run_services.RunNotPossible as exc:
            raise ValidationError({"detail": str(exc)}) from None
        return Response(RunDetailOut(run).data, status=201)


class RunDetail(ProjectScoped, APIView):
    @extend_schema(summary="A run: status, progress, metrics time series, log tail",
                   responses=responses(RunDetailOut))
    def get(self, request, slug, run_id):
        run = selectors.run_of(project=self.project, run_id=run_id)
        if run is None:
            raise NotFound("No such run.")
        return Response(RunDetailOut(run).data)


class RunCancel(ProjectScoped, APIView):
    @extend_schema(summary="Cancel a run", description="A queued run is cancelled at once; a "
                   "running one stops at its next progress report.", request=None,
                   responses=responses(RunDetailOut))
    def post(self, request, slug, run_id):
        run = selectors.run_of(project=self.project, run_id=run_id)
        if run is None:
            raise NotFound("No such run.")
        return Response(RunDetailOut(run_services.run_cancel(run=run)).data)
