"""argparse value types and option checks shared by the ``goodregions`` subcommands."""

import argparse

__all__ = ["odd_int", "positive_int", "box_checked"]


def odd_int(text):
    """A kernel size: an odd integer >= 3."""
    value = int(text)
    if value < 3 or value % 2 == 0:
        raise argparse.ArgumentTypeError(f"must be an odd integer >= 3, got {text}")
    return value


def positive_int(text):
    """A count: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def box_checked(handler):
    """Wrap a subcommand handler: refuse --box without --selector box (and the reverse) as a
    usage error before any work."""
    def run(args):
        if (args.selector == "box") != (args.box is not None):
            raise ValueError("--box X Y W H goes with --selector box, and --selector box needs --box")
        return handler(args)
    return run
