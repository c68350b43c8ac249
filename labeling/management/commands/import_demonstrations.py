from labeling.management.commands._importing import ImportCommand
from labeling.services.demonstration_imports import demonstrations_import


class Command(ImportCommand):
    help = (
        "Import demonstrations (JSONL or Parquet): {\"messages\": [..., assistant answer]}, "
        "{\"prompt\", \"completion\"} or {\"prompt\", \"answer\"}. All or nothing."
    )
    service = demonstrations_import
