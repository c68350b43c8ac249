import factory
from django.contrib.auth import get_user_model

from labeling.models import Project
from labeling.services import NewTask, tasks_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"annotator{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    is_superuser = True  # staff manage everything, the admin included


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    instructions = "Pick the best continuation."


def make_tasks(project, count, *, start=0, prefix="prompt", policy_version=None):
    """Create ``count`` open tasks through the real service (so the DB triggers apply)."""
    tasks = [
        NewTask(
            prompt=f"{prefix} {i}",
            completions=[f"{prefix} {i} completion {p}" for p in range(4)],
        )
        for i in range(start, start + count)
    ]
    return tasks_create(project=project, tasks=tasks, policy_version=policy_version)
