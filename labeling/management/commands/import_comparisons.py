from labeling.management.commands._importing import ImportCommand
from labeling.services import comparisons_import


class Command(ImportCommand):
    help = "Import comparisons (JSONL: prompt plus exactly four completions). All or nothing."
    service = comparisons_import
