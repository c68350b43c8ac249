import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.management.commands._project import project_by_slug
from labeling.simulation import simulate


class Command(BaseCommand):
    help = (
        "Log K simulated annotators in over HTTP and label N tasks through the same endpoints a "
        "browser uses, choosing with a training/ oracle."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--oracle", default="sentiment", help="training.oracles name")
        parser.add_argument("--temperature", type=float, default=None, help="oracle softmax temperature")
        parser.add_argument("--labels", type=int, required=True, help="labels to make in total")
        parser.add_argument("--annotators", type=int, default=2)
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="where Quartet is served")
        parser.add_argument("--wait", type=float, default=0.0,
                            help="seconds an annotator waits for new tasks when the queue is empty")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, project, oracle, temperature, labels, annotators, url, wait, seed, **options):
        from training.oracles import get_oracle  # pure Python; no torch

        target = project_by_slug(project)
        try:
            chooser = get_oracle(oracle, temperature)
        except (KeyError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        accounts = []
        User = get_user_model()
        for i in range(1, annotators + 1):
            password = secrets.token_urlsafe(12)
            user, _ = User.objects.get_or_create(username=f"sim-{project}-{i}")
            user.set_password(password)
            user.save()
            target.annotators.add(user)
            accounts.append((user.username, password))
        bar = tqdm(total=labels, desc="labels", unit="label")
        result = simulate(
            base_url=url, slug=project, accounts=accounts, oracle=chooser, labels=labels,
            seed=seed, wait_for_tasks=wait, on_label=lambda: bar.update(1),
        )
        bar.close()
        for error in result.errors:
            self.stderr.write(error)
        self.stdout.write(
            f"{result.labels} labels by {annotators} annotators in {result.seconds:.1f} s "
            f"({result.labels / max(result.seconds, 1e-9):.1f}/s)"
        )
        if result.errors:
            raise CommandError(f"{len(result.errors)} annotator(s) stopped with an error")
