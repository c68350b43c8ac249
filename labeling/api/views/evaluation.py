"""Staff evaluation endpoints: each evaluation round's human win rate over its baseline with a
95% interval, beside the reward model's predicted win rate; starting a round; the split."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api.base import Conflict, ProjectScoped, responses, validated
from labeling.selectors.evaluation import evaluation_results, evaluation_split_count
from labeling.services import evaluation as evaluation_services
from labeling.services.runs import RunConflict, RunNotPossible

INT_MAX = 2**31 - 1


class EvaluationOut(serializers.Serializer):
    id = serializers.IntegerField()
    run_id = serializers.IntegerField(help_text="the evaluation round (a training run of kind evaluation)")
    status = serializers.CharField(help_text="the round's status: queued, running, succeeded, failed, cancelled")
    candidate = serializers.IntegerField(help_text="policy version evaluated")
    baseline = serializers.IntegerField(help_text="policy version it is compared with (0: ρ)")
    prompts = serializers.IntegerField(help_text="evaluation prompts sampled, one task each")
    tasks = serializers.IntegerField()
    labeled_prompts = serializers.IntegerField()
    decisions = serializers.IntegerField(help_text="best-of-four choices on its tasks")
    win_rate = serializers.FloatField(
        allow_null=True, help_text="share of choices that picked one of the candidate's two answers "
        "(mean over prompts); 0.5 means no preference",
    )
    ci_low = serializers.FloatField(allow_null=True, help_text="95% confidence interval, lower end")
    ci_high = serializers.FloatField(allow_null=True, help_text="95% confidence interval, upper end")
    method = serializers.ChoiceField(
        choices=["wilson", "bootstrap", "none"],
        help_text="wilson: one choice per prompt; bootstrap: resampling prompts (seeded); none: no choices yet",
    )
    predicted_win_rate = serializers.FloatField(
        allow_null=True, help_text="the reward model's mean probability (softmax over the four) that "
        "the best answer is the candidate's, on the same answers",
    )
    reward_model = serializers.IntegerField(allow_null=True, help_text="reward model version that predicted")
    reward_above_humans = serializers.BooleanField(
        help_text="the prediction lies above the human interval: a likely sign of reward hacking"
    )
    created_at = serializers.DateTimeField()


class EvaluationListOut(serializers.Serializer):
    split_size = serializers.IntegerField(help_text="prompts held out for evaluation")
    evaluations = EvaluationOut(many=True, help_text="oldest first")


class EvaluationStartIn(serializers.Serializer):
    candidate = serializers.IntegerField(
        required=False, min_value=1, max_value=INT_MAX, help_text="policy version; default: the current one"
    )
    baseline = serializers.IntegerField(
        default=0, min_value=0, max_value=INT_MAX, help_text="an earlier policy version; default 0 (ρ)"
    )
    prompts = serializers.IntegerField(
        required=False, min_value=1, max_value=100_000,
        help_text="evaluation prompts to sample; default: the project's setting (at most the split)",
    )


class SplitIn(serializers.Serializer):
    size = serializers.IntegerField(min_value=0, max_value=1_000_000, help_text="prompts wanted in the split")
    seed = serializers.IntegerField(default=0, min_value=0, max_value=INT_MAX)


class SplitOut(serializers.Serializer):
    split_size = serializers.IntegerField(help_text="prompts in the split afterwards (fewer when too few unused)")


class EvaluationList(ProjectScoped, APIView):
    @extend_schema(summary="Evaluation rounds: human win rate with 95% CI beside the reward model's prediction",
                   responses=responses(EvaluationListOut))
    def get(self, request, slug):
        results = [r.as_dict() for r in evaluation_results(project=self.project)]
        return Response(EvaluationListOut({
            "split_size": evaluation_split_count(project=self.project), "evaluations": results,
        }).data)

    @extend_schema(
        summary="Start an evaluation round",
        description="Samples two answers from the candidate and two from the baseline for each "
        "evaluation prompt into four-way tasks, handed out at the project's evaluation rate. "
        "409 while another round of the project is queued or running.",
        request=EvaluationStartIn, responses=responses(EvaluationOut, 400, 409, status=201),
    )
    def post(self, request, slug):
        data = validated(EvaluationStartIn, request.data)
        try:
            evaluation = evaluation_services.evaluation_start(
                project=self.project, candidate_number=data.get("candidate"), baseline_number=data["baseline"],
                prompts=data.get("prompts"), trigger=f"api: {request.user.get_username()}", user=request.user,
            )
        except RunConflict as exc:
            raise Conflict(str(exc)) from None
        except RunNotPossible as exc:
            raise ValidationError({"detail": str(exc)}) from None
        [result] = [r for r in evaluation_results(project=self.project) if r.id == evaluation.pk]
        return Response(EvaluationOut(result.as_dict()).data, status=201)


class EvaluationSplit(ProjectScoped, APIView):
    @extend_schema(
        summary="Grow the evaluation split",
        description="Holds out prompts no task has used yet, drawn at random, until the split has "
        "`size` prompts. Never shrinks it.",
        request=SplitIn, responses=responses(SplitOut, 400),
    )
    def post(self, request, slug):
        data = validated(SplitIn, request.data)
        size = evaluation_services.evaluation_split_draw(project=self.project, size=data["size"], seed=data["seed"])
        return Response(SplitOut({"split_size": size}).data)
