from django.core.management.base import BaseCommand, CommandError

from labeling.management.commands._project import project_by_slug
from labeling.services import ImportValidationError


class ImportCommand(BaseCommand):
    """Shared shape of import_prompts and import_comparisons: PATH --project SLUG."""

    service = None  # set by subclasses: a services.*_import function

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--project", required=True, help="project slug")

    def handle(self, *args, path, project, **options):
        target = project_by_slug(project)
        try:
            result = type(self).service(project=target, source=path)
        except FileNotFoundError:
            raise CommandError(f"{path}: no such file") from None
        except ImportValidationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"{path}: {result.summary()}."))
