import os

from django.core.management.base import BaseCommand

from labeling.services.demo import demo_setup


class Command(BaseCommand):
    help = "Create the demo project, a demo staff user and two demo annotators, with demo tasks."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=os.environ.get("QUARTET_DEMO_PASSWORD", "quartet-demo"),
            help="password for all demo accounts (default: $QUARTET_DEMO_PASSWORD or quartet-demo)",
        )

    def handle(self, *args, password, **options):
        demo = demo_setup(password=password)
        self.stdout.write(f"Demo project '{demo.project.slug}': {demo.imported.summary()}.")
        self.stdout.write("Demo accounts (local use only):")
        for role, username, pw in demo.credentials:
            self.stdout.write(f"  {role:<10} {username:<12} {pw}")
