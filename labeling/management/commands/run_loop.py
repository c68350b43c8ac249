from labeling.management.commands._rounds import RoundCommand


class Command(RoundCommand):
    help = "Run the loop once: reward round, policy round, sampling round."
    kinds = ("reward", "policy", "sampling",)
