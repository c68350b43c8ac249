"""The demo project that `make run` sets up: a project on the committed starter policy, a staff
user, two annotators, and prompts to sample from.

With the chat starter (``training/chat_starter``) and its held-out demo conversations
(``training/data/chat_demo_prompts.jsonl``) present, the demo is a chat project on it, so a new
user sees conversations and rendered Markdown at once; without them, the text demo as before."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from labeling.models import Project
from labeling.services.imports import ImportResult, comparisons_import, prompts_import

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEMO_COMPARISONS = FIXTURES / "demo_comparisons.jsonl"
DEMO_PROMPTS = Path(settings.BASE_DIR) / "training" / "data" / "demo_prompts.jsonl"
DEMO_CHAT_PROMPTS = Path(settings.BASE_DIR) / "training" / "data" / "chat_demo_prompts.jsonl"
DEMO_CHAT_INSTRUCTIONS = """Read the conversation, then pick the assistant answer you like best.
Prefer answers that are correct, answer the question that was asked, and are clear and well
formatted (lists, tables and code where they help). Press r to see an answer's raw text.
Skip (s) when you cannot decide; flag (f) when all four are broken or unsafe."""
DEMO_INSTRUCTIONS = """Read the prompt, then pick the continuation you like best.
Prefer continuations that are fluent English, follow on from the prompt, and sound positive and
helpful (useful, simple, safe, clear) rather than negative (error, fail, invalid, deprecated).
Skip (s) when you cannot decide; flag (f) when all four are broken or unsafe."""
# Rounds sized for a CPU: a loop iteration (reward, policy, sampling) takes well under a minute
# with the starter. Learning rate, KL target and horizon suit its scale (see training/README.md).
DEMO_REWARD_CONFIG = {"n_norm_samples": 128}
DEMO_POLICY_CONFIG = {"steps": 8, "batch_size": 16, "lr": 3e-5, "kl_target": 4.0, "horizon": 1000}


@dataclass(frozen=True)
class DemoAccounts:
    project: Project
    credentials: list[tuple[str, str, str]]  # (role, username, password)
    imported: ImportResult
    has_starter: bool


def demo_setup(*, password: str) -> DemoAccounts:
    """Create (or refresh) the demo project, its staff user and two annotators, and its prompts.

    With the committed starter policy present, the project runs the loop on it (a reward round
    after every 64 choices); without it, the shipped pre-sampled comparisons are imported.
    Idempotent: existing users get the given password again and nothing is imported twice.
    """
    User = get_user_model()
    chat_starter = Path(settings.QUARTET_CHAT_STARTER_POLICY)
    chat = (chat_starter / "config.json").exists() and DEMO_CHAT_PROMPTS.is_file()
    starter = chat_starter if chat else Path(settings.QUARTET_STARTER_POLICY)
    has_starter = (starter / "config.json").exists()
    with transaction.atomic():
        project, created = Project.objects.get_or_create(
            slug="demo",
            defaults={
                "name": "Demo: a Python helper (chat)" if chat else "Demo: helpful continuations",
                "instructions": DEMO_CHAT_INSTRUCTIONS if chat else DEMO_INSTRUCTIONS,
                "prompt_format": Project.PromptFormat.CHAT if chat else Project.PromptFormat.TEXT,
                "policy_source": str(starter) if has_starter else "",
                "loop_enabled": has_starter,
                "loop_every_choices": 64,
                "loop_sample_prompts": 32,
                "reward_config": DEMO_REWARD_CONFIG,
                "policy_config": DEMO_POLICY_CONFIG,
            },
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
        if project.prompt_format == Project.PromptFormat.CHAT:  # an existing demo keeps its kind
            imported = prompts_import(project=project, source=DEMO_CHAT_PROMPTS)
        elif has_starter:
            imported = prompts_import(project=project, source=DEMO_PROMPTS)
        else:
            imported = comparisons_import(project=project, source=DEMO_COMPARISONS)
    return DemoAccounts(project=project, credentials=credentials, imported=imported, has_starter=has_starter)
