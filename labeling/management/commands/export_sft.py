from django.core.management.base import BaseCommand, CommandError

from labeling.management.commands._project import project_by_slug
from labeling.services.exports import ExportError
from labeling.services.sft_exports import SFT_STYLES, sft_export


class Command(BaseCommand):
    help = (
        "Export a project's demonstrations as an SFT data set TRL's SFTTrainer reads: 'messages' "
        "(conversation plus the assistant answer) or 'prompt_completion'. The file format follows "
        "--out: .jsonl, .parquet, or a folder written with datasets' save_to_disk."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--style", required=True, choices=SFT_STYLES)
        parser.add_argument("--out", required=True, help="PATH.jsonl, PATH.parquet or a new folder")

    def handle(self, *args, **options):
        project = project_by_slug(options["project"])
        try:
            result = sft_export(project=project, style=options["style"], out=options["out"])
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{result.rows} demonstrations written to {result.path}")
