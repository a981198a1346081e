"""argparse value types and option checks shared by the ``goodregions`` subcommands."""

import argparse

__all__ = ["odd_int", "positive_int", "box_checked", "add_candidates_option"]


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


def add_candidates_option(parser, *, when=""):
    """Add ``--candidates N`` (the kernel vote among the N best windows) to a subcommand;
    ``when`` opens its help, such as "at each new estimate, "."""
    parser.add_argument("--candidates", type=positive_int, default=1, metavar="N",
                        help=f"{when}estimate on the N best windows of cnn, fergus or xu and keep the kernel that agrees "
                             "most with the others (N estimates; default 1: the best window)")
