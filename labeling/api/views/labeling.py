"""Projects and labeling: the only endpoints annotators may use."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from labeling import services
from labeling.api import selectors
from labeling.api.base import Conflict, ProjectScoped, responses, validated
from labeling.api.serializers import BIGINT_MAX, ChoiceOut, LabelingStateOut, ProjectOut
from labeling.models import COMPLETIONS_PER_TASK, Choice
from labeling.services.queue import MAX_DECISION_MS


@extend_schema_view(get=extend_schema(summary="Projects you label (staff: all)", responses=responses(ProjectOut(many=True))))
class ProjectList(generics.ListAPIView):
    serializer_class = ProjectOut

    def get_queryset(self):
        return selectors.projects_visible(user=self.request.user)


class ProjectDetail(APIView):
    @extend_schema(summary="One project", responses=responses(ProjectOut))
    def get(self, request, slug):
        project = selectors.projects_visible(user=request.user).filter(slug=slug).first()
        if project is None:
            raise NotFound("No such project, or you are not an annotator on it.")
        return Response(ProjectOut(project).data)


class LabelingView(ProjectScoped, APIView):
    staff_only = False
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "labeling"


class NextTask(LabelingView):
    @extend_schema(
        summary="Your current task and the next one",
        description="Leases up to two tasks to you (the one to label now and the next), as the "
        "labeling page does. `current` is null when the queue has nothing for you.",
        responses=responses(LabelingStateOut, 429),
    )
    def get(self, request, slug):
        state = services.labeling_state_for_annotator(project=self.project, annotator=request.user)
        return Response(LabelingStateOut(state).data)


class DecisionIn(serializers.Serializer):
    assignment_id = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX,
                                             help_text="from next: current.assignment_id")
    decision_ms = serializers.IntegerField(
        min_value=0, max_value=MAX_DECISION_MS, required=False, allow_null=True,
        help_text="time from display to decision; omitted: time since the lease began",
    )
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class SubmitIn(DecisionIn):
    position = serializers.IntegerField(
        min_value=0, max_value=COMPLETIONS_PER_TASK - 1, help_text="canonical position of the best"
    )


class Decision(LabelingView):
    """Record a decision on one of your leased tasks."""

    kind = Choice.Kind.BEST
    Input = SubmitIn

    def post(self, request, slug):
        data = validated(self.Input, request.data)
        try:
            choice = services.comparison_record(
                project=self.project,
                annotator=request.user,
                assignment_id=data["assignment_id"],
                kind=self.kind,
                position=data.get("position"),
                decision_ms=data.get("decision_ms"),
                comment=data["comment"],
            )
        except services.LabelingError as exc:
            raise Conflict(str(exc)) from None
        return Response(ChoiceOut(choice).data, status=201)


def _decision_schema(summary: str, request) -> dict:
    return {"post": extend_schema(summary=summary, request=request,
                                  responses=responses(ChoiceOut, 400, 409, 429, status=201))}


@extend_schema_view(**_decision_schema("Submit the best of four", SubmitIn))
class Submit(Decision):
    pass


@extend_schema_view(**_decision_schema("Skip a task (it goes to someone else)", DecisionIn))
class Skip(Decision):
    kind, Input = Choice.Kind.SKIP, DecisionIn


@extend_schema_view(**_decision_schema("Flag a task: all four broken or unsafe", DecisionIn))
class Flag(Decision):
    kind, Input = Choice.Kind.FLAG, DecisionIn


class UndoOut(serializers.Serializer):
    task_id = serializers.IntegerField(help_text="shown to you again as current")


class Undo(LabelingView):
    @extend_schema(summary="Take back your last decision while its lease runs", request=None,
                   responses=responses(UndoOut, 409, 429))
    def post(self, request, slug):
        try:
            result = services.choice_undo(project=self.project, annotator=request.user)
        except services.LabelingError as exc:
            raise Conflict(str(exc)) from None
        return Response(UndoOut(result).data)
