"""Staff label-quality figures: the same numbers as the Quality page."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.api.base import ProjectScoped, responses
from labeling.selectors.quality import quality_report


class AgreementOut(serializers.Serializer):
    items = serializers.IntegerField(help_text="tasks with two or more annotators")
    observed = serializers.FloatField(help_text="mean share of agreeing annotator pairs per task")
    chance = serializers.FloatField(help_text="agreement expected by chance")
    kappa = serializers.FloatField(allow_null=True, help_text="Fleiss' kappa")


class DayAgreementOut(AgreementOut):
    day = serializers.DateField()


class AnnotatorQualityOut(serializers.Serializer):
    annotator_id = serializers.IntegerField()
    username = serializers.CharField()
    decisions = serializers.IntegerField()
    per_hour = serializers.FloatField(allow_null=True, help_text="decisions per hour with activity")
    median_ms = serializers.FloatField(allow_null=True)
    skip_rate = serializers.FloatField(allow_null=True)
    flag_rate = serializers.FloatField(allow_null=True)
    agreement = serializers.FloatField(allow_null=True, help_text="agreement with the others' majority")
    agreement_tasks = serializers.IntegerField()
    gold_answers = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    slot_shares = serializers.ListField(child=serializers.FloatField(), help_text="share per displayed position 1–4")
    position_p = serializers.FloatField(allow_null=True, help_text="chi-square p-value against 25% each")
    paused = serializers.BooleanField()
    hints = serializers.ListField(child=serializers.CharField())


class RewardAgreementOut(serializers.Serializer):
    number = serializers.IntegerField()
    heldout_agreement = serializers.FloatField(allow_null=True)


class QualityOut(serializers.Serializer):
    overall = AgreementOut()
    over_time = DayAgreementOut(many=True)
    annotators = AnnotatorQualityOut(many=True)
    position_shares = serializers.ListField(child=serializers.FloatField())
    position_chi2 = serializers.FloatField()
    position_p = serializers.FloatField(allow_null=True)
    reward_models = RewardAgreementOut(many=True, help_text="held-out agreement of each reward version")


def _agreement(a) -> dict:
    return {"items": a.items, "observed": a.observed, "chance": a.chance, "kappa": a.kappa}


@extend_schema(summary="Label quality: agreement, gold accuracy, position bias, annotator statistics",
               responses=responses(QualityOut))
class QualityDetail(ProjectScoped, APIView):
    def get(self, request, slug):
        report = quality_report(project=self.project)
        total = sum(report.slots)
        return Response(QualityOut({
            "overall": _agreement(report.overall),
            "over_time": [{"day": day, **_agreement(a)} for day, a in report.over_time],
            "annotators": [
                {
                    **{k: getattr(q, k) for k in (
                        "annotator_id", "username", "decisions", "per_hour", "median_ms", "skip_rate",
                        "flag_rate", "agreement", "agreement_tasks", "slot_shares", "position_p",
                        "paused", "hints",
                    )},
                    "gold_answers": q.gold.answers if q.gold else 0,
                    "gold_accuracy": q.gold.share if q.gold else None,
                }
                for q in report.annotators
            ],
            "position_shares": [c / total if total else 0.0 for c in report.slots],
            "position_chi2": report.position_chi2,
            "position_p": report.position_p,
            "reward_models": [{"number": n, "heldout_agreement": a} for n, a in report.reward_versions],
        }).data)
