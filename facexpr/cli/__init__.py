"""The ``facexpr`` command line: a thin layer over the public API.

Run ``facexpr --help`` or ``facexpr COMMAND --help``. Each command lives in its own module
(``facexpr/cli/predict.py``, ``video.py``, ...) with ``register(subparsers, parents)`` and
``run(args)``; what they share is in ``facexpr/cli/_common.py``. This module only wires them.

Errors in what the user gave (a missing file, an unknown model...) print one
``facexpr: error:`` line and exit with status 2, never a traceback. Any other exception is a
bug in facexpr: one ``facexpr: internal error:`` line and status 1. ``--debug`` shows the
traceback of either.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import evaluate, export, models, predict, publish, release, train, video, webcam
from ._common import Parser, debug_flag_parser, run_command

__all__ = ["main", "build_parser"]

COMMANDS = (predict, video, webcam, models, train, evaluate, release, publish, export)
"""The command modules, in the order ``facexpr --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``facexpr`` command.

    Each sub-command sets ``func``, the ``run`` function of its module, which :func:`main`
    calls with the parsed arguments.

    Example:
        >>> from facexpr.cli import build_parser
        >>> args = build_parser().parse_args(["predict", "face.jpg", "--top-k", "3"])
        >>> args.command, args.images, args.top_k
        ('predict', ['face.jpg'], 3)
        >>> from facexpr import DEFAULT_MODEL
        >>> args.model == DEFAULT_MODEL
        True
    """
    from .. import __version__

    parser = Parser(
        prog="facexpr",
        description="Facial expression recognition: predict on face images, train and evaluate models.",
    )
    parser.add_argument("--version", action="version", version=f"facexpr {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parents = [debug_flag_parser()]
    for command in COMMANDS:
        command.register(sub, parents)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Every error about what the user gave (a facexpr error, a file that cannot be read or
    written, a bad value, a device this machine lacks, a checkpoint that cannot be read, a
    missing optional package) is printed as one ``facexpr: error:`` line and gives exit
    status 2; any other exception is a bug in facexpr, printed as one ``facexpr: internal
    error:`` line with exit status 1. Warnings are printed as one ``facexpr: warning:`` line
    each. ``--debug`` shows the full traceback instead.

    SIGTERM is handled like an interruption: files being written are removed, nothing is
    left half-written, and the exit status is 143.

    Example:
        >>> main(["models", "--filter", "simple"])  # doctest: +SKIP
    """
    return run_command(build_parser().parse_args(argv))
