"""The one lookup every command makes first: the project named by --project."""

from django.core.management.base import CommandError

from labeling.models import Project


def project_by_slug(slug: str) -> Project:
    """The project with this slug, or a CommandError that names the slug (exit status 1, no traceback)."""
    try:
        return Project.objects.get(slug=slug)
    except Project.DoesNotExist:
        raise CommandError(f"No project with slug {slug!r}.") from None
