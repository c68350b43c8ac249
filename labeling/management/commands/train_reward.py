from labeling.management.commands._rounds import RoundCommand


class Command(RoundCommand):
    help = "Train a reward model on all best-of-four choices of a project."
    kinds = ("reward",)
