"""The demo project that `make run` sets up: a project, a staff user, two annotators, tasks."""

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from labeling.models import Project
from labeling.services.imports import ImportResult, comparisons_import

DEMO_COMPARISONS = Path(__file__).resolve().parent.parent / "fixtures" / "demo_comparisons.jsonl"
DEMO_INSTRUCTIONS = """Read the prompt, then pick the continuation you like best.
Prefer continuations that are fluent English, stay on topic and have a warm, positive tone.
Skip (s) when you cannot decide; flag (f) when all four are broken or unsafe."""


@dataclass(frozen=True)
class DemoAccounts:
    project: Project
    credentials: list[tuple[str, str, str]]  # (role, username, password)
    imported: ImportResult


def demo_setup(*, password: str) -> DemoAccounts:
    """Create (or refresh) the demo project, its staff user and two annotators, and import the
    shipped demo comparisons. Idempotent: existing users get the given password again, and
    tasks already imported are skipped."""
    User = get_user_model()
    with transaction.atomic():
        project, _ = Project.objects.get_or_create(
            slug="demo",
            defaults={"name": "Demo: friendly continuations", "instructions": DEMO_INSTRUCTIONS},
        )
        credentials = []
        for role, username, staff in [
            ("staff", "admin", True),
            ("annotator", "annotator1", False),
            ("annotator", "annotator2", False),
        ]:
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = user.is_superuser = staff
            user.set_password(password)
            user.save()
            project.annotators.add(user)
            credentials.append((role, username, password))
        imported = comparisons_import(project=project, source=DEMO_COMPARISONS)
    return DemoAccounts(project=project, credentials=credentials, imported=imported)
