"""argparse value types shared by the ``goodregions`` subcommands."""

import argparse

__all__ = ["odd_int", "positive_int"]


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
