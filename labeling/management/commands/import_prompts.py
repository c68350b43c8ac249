from labeling.management.commands._importing import ImportCommand
from labeling.services import prompts_import


class Command(ImportCommand):
    help = "Import prompts (JSONL or CSV with a 'prompt' field) into a project. All or nothing."
    service = prompts_import
