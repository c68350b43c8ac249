from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from labeling.management.commands._project import project_by_slug
from labeling.services.exports import FORMATS, ExportError, ExportFilters, preferences_export


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not an ISO date or date-time") from None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Export a project's choices as a preference data set: listwise (prompt, four completions, "
        "best) or pairwise (prompt, chosen, rejected). The file format follows --out: .jsonl, "
        ".parquet, or a folder written with datasets' save_to_disk. A manifest is written beside it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--out", required=True, help="PATH.jsonl, PATH.parquet or a new folder")
        parser.add_argument("--since", type=_instant, help="choices made at or after (ISO 8601)")
        parser.add_argument("--until", type=_instant, help="choices made before (ISO 8601)")
        parser.add_argument("--policy-version", type=int, action="append", default=[],
                            help="sampling policy version (0: imported tasks); repeatable")
        parser.add_argument("--annotator", action="append", default=[], help="username; repeatable")
        parser.add_argument("--include-skipped", action="store_true")
        parser.add_argument("--include-flagged", action="store_true")
        parser.add_argument("--min-gold-accuracy", type=float, default=None,
                            help="leave out annotators below this gold accuracy (0-1)")
        parser.add_argument("--agreeing-only", action="store_true",
                            help="only tasks whose annotators agree")
        parser.add_argument("--evaluation", choices=["exclude", "only", "include"], default="exclude",
                            help="evaluation rounds' choices: left out (default), alone, or both")
        parser.add_argument("--reveal-annotators", action="store_true",
                            help="usernames instead of pseudonyms")

    def handle(self, *args, **options):
        project = project_by_slug(options["project"])
        users = dict(
            get_user_model().objects.filter(username__in=options["annotator"]).values_list("username", "pk")
        )
        unknown = sorted(set(options["annotator"]) - set(users))
        if unknown:
            raise CommandError(f"No such annotator: {', '.join(unknown)}")
        filters = ExportFilters(
            since=options["since"],
            until=options["until"],
            policy_versions=tuple(options["policy_version"]),
            annotator_ids=tuple(users.values()),
            include_skipped=options["include_skipped"],
            include_flagged=options["include_flagged"],
            agreeing_only=options["agreeing_only"],
            min_gold_accuracy=options["min_gold_accuracy"],
            evaluation=options["evaluation"],
        )
        try:
            result = preferences_export(
                project=project, format=options["format"], out=options["out"], filters=filters,
                reveal_annotators=options["reveal_annotators"],
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(
            f"{result.path}: {result.rows} {result.format} rows from {result.choices} choices "
            f"(manifest {result.manifest_path.name})."
        ))
