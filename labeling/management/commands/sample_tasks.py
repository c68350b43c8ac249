from labeling.management.commands._rounds import RoundCommand


class Command(RoundCommand):
    help = "Sample four completions for M prompts from the current policy into the queue."
    kinds = ("sampling",)
