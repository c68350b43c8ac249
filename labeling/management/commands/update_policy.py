from labeling.management.commands._rounds import RoundCommand


class Command(RoundCommand):
    help = "Run one KL-penalized policy round against the current reward model."
    kinds = ("policy",)
