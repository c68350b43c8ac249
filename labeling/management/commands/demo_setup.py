import os

from django.core.management import call_command
from django.core.management.base import BaseCommand

from labeling.models import ComparisonTask
from labeling.services.demo import demo_setup


class Command(BaseCommand):
    help = (
        "Create the demo project, a demo staff user and two demo annotators; sample its first "
        "tasks from the committed starter policy."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=os.environ.get("QUARTET_DEMO_PASSWORD", "quartet-demo"),
            help="password for all demo accounts (default: $QUARTET_DEMO_PASSWORD or quartet-demo)",
        )
        parser.add_argument("--no-sampling", action="store_true", help="do not sample first tasks")

    def handle(self, *args, password, no_sampling, **options):
        demo = demo_setup(password=password)
        self.stdout.write(f"Demo project '{demo.project.slug}': {demo.imported.summary()}.")
        has_tasks = ComparisonTask.objects.filter(project=demo.project, status="open").exists()
        if demo.has_starter and not has_tasks and not no_sampling:
            self.stdout.write("Sampling the first tasks from the starter policy…")
            call_command("sample_tasks", project=demo.project.slug, stdout=self.stdout)
        self.stdout.write("Demo accounts (local use only):")
        for role, username, pw in demo.credentials:
            self.stdout.write(f"  {role:<10} {username:<12} {pw}")
