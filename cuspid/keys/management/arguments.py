"""Argument types shared by the key commands."""

from __future__ import annotations

import argparse

from django.core.management.base import CommandParser


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be zero or more seconds")
    return value


def add_batch_arguments(parser: CommandParser, *, unit: str) -> None:
    """``--batch-size`` (``unit`` per transaction) and ``--pause`` for the rotation commands."""
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=100,
        help=f"{unit} per transaction (default 100)",
    )
    parser.add_argument(
        "--pause",
        type=seconds,
        default=0.0,
        help="seconds to wait between batches, to spare a busy database (default 0)",
    )
