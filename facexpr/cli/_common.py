"""What the ``facexpr`` commands share: the parser class, argument types, error handling, progress.

Each command module (``facexpr/cli/predict.py``, ...) imports what it needs from here; nothing
here knows about any one command.

Example:
    >>> from facexpr.cli._common import positive_int
    >>> positive_int("3")
    3
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

__all__ = [
    "EXIT_USAGE",
    "EXIT_BUG",
    "UserError",
    "Terminated",
    "on_sigterm",
    "Parser",
    "debug_flag_parser",
    "positive_int",
    "float_in",
    "class_names",
    "output_file",
    "detector",
    "progress_bar",
    "logger_callbacks",
    "one_line",
    "show_warning",
    "is_user_error",
    "run_command",
]

EXIT_USAGE = 2
"""Exit status of an error in what the user gave (and of argparse's usage errors)."""

EXIT_BUG = 1
"""Exit status of an unexpected exception: a bug in facexpr."""


class UserError(Exception):
    """An error caused by the command's input, shown as one line.

    Example:
        >>> str(UserError("--recursive needs a folder among the inputs."))
        '--recursive needs a folder among the inputs.'
    """


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every ``finally`` runs (no half-written file is left)."""


def on_sigterm(signum: int, frame: object) -> NoReturn:
    """Signal handler of SIGTERM: raise :class:`Terminated` in the main thread.

    Args:
        signum: The signal number (SIGTERM).
        frame: The interrupted stack frame (unused).

    Raises:
        Terminated: Always.
    """
    raise Terminated()


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (exit status 2), like facexpr's own.

    Example:
        >>> parser = Parser(prog="facexpr")
        >>> parser.error("bad")  # doctest: +SKIP
    """

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line with a pointer to ``--help`` and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def debug_flag_parser() -> Parser:
    """Return the parent parser that adds ``--debug`` to a sub-command.

    ``--debug`` is accepted before or after the command; its default, ``SUPPRESS``, keeps a
    sub-command from resetting the value given before it.

    Example:
        >>> debug_flag_parser().parse_args(["--debug"]).debug
        True
    """
    debug_flag = Parser(add_help=False)
    debug_flag.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show the full traceback of an error")
    return debug_flag


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1.

    Args:
        text: The option's value as typed.

    Returns:
        The integer.

    Raises:
        argparse.ArgumentTypeError: ``text`` is not an integer >= 1.

    Example:
        >>> positive_int("7")
        7
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def float_in(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """``argparse`` type: a finite float between ``low`` and ``high`` (``inf``: no upper bound).

    Args:
        low: The smallest value allowed (excluded when ``low_open``).
        high: The largest value allowed (excluded when ``high_open``).
        low_open: Exclude ``low`` itself.
        high_open: Exclude ``high`` itself.

    Returns:
        A function that parses the option's text or raises ``argparse.ArgumentTypeError``.

    Example:
        >>> float_in(0, 1)("0.5")
        0.5
    """
    left, right = "(" if low_open else "[", ")" if high_open else "]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        below = value <= low if low_open else value < low
        above = value >= high if high_open else value > high
        if value != value or below or above or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"expected a number in {left}{low:g}, {high:g}{right}, got {text!r}")
        return value

    return parse


def class_names(text: str) -> tuple[str, ...]:
    """``argparse`` type of ``--classes``: ``fer2013`` (its seven expressions) or names separated by commas.

    Example:
        >>> class_names("happy, sad")
        ('happy', 'sad')
    """
    from ..labels import FER2013_LABELS

    if text.strip().lower() == "fer2013":
        return FER2013_LABELS
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected 'fer2013' or class names separated by commas, got {text!r}")
    return names


def output_file(text: str) -> str:
    """``argparse`` type: a file to write, refused when it names an existing folder.

    Example:
        >>> output_file("table.csv")
        'table.csv'
    """
    from pathlib import Path

    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is a folder; expected the path of a file to write")
    return text


def detector(value: str) -> object:
    """``--detector``: a built-in name, or a YuNet ``.onnx`` file.

    Args:
        value: The option's value.

    Returns:
        The name itself (a built-in detector) or a :class:`facexpr.detection.YuNetDetector`.

    Example:
        >>> detector("auto")
        'auto'
    """
    from ..detection import YuNetDetector, available_detectors

    if value.strip().lower() in (*available_detectors(), "hog"):
        return value
    return YuNetDetector(value)


def progress_bar(*, total: int | None, unit: str, enabled: bool) -> object:
    """A tqdm progress bar on stderr (only on a terminal); ``write`` prints above it.

    Args:
        total: How many steps, or ``None`` when unknown.
        unit: The name of one step ("img", "frame").
        enabled: ``False`` hides the bar whatever the terminal.

    Returns:
        The ``tqdm`` bar.
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, disable=None if enabled else True,
                dynamic_ncols=True, leave=False)


def logger_callbacks(args: argparse.Namespace) -> list:
    """The training callbacks that ``--tensorboard`` and ``--wandb`` ask for.

    Args:
        args: Parsed arguments with ``tensorboard`` and ``wandb``.

    Returns:
        A list of :class:`facexpr.training.TensorBoard` / :class:`facexpr.training.WandbLogger`.
    """
    from ..training import TensorBoard, WandbLogger

    callbacks: list = []
    if args.tensorboard:
        callbacks.append(TensorBoard(args.tensorboard))
    if args.wandb:
        callbacks.append(WandbLogger(args.wandb))
    return callbacks


def one_line(err: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none.

    Example:
        >>> one_line(ValueError("first\\nsecond"))
        'first'
        >>> one_line(KeyError())
        'KeyError'
    """
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def show_warning(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    """Print a warning as one ``facexpr: warning:`` line, without Python's source line."""
    print(f"facexpr: warning: {one_line(message) if isinstance(message, Warning) else message}", file=sys.stderr)


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is about what the user gave (one line, status 2) rather than a bug in facexpr.

    facexpr's own errors (:class:`facexpr.FacexprError`), the CLI's :class:`UserError`, and the
    ``ValueError``/``OSError`` (``FileNotFoundError``...) that facexpr's checks raise on bad input
    are the user's. So is an ``ImportError`` for a package that is not installed (facexpr's
    messages say what to ``pip install``), but not one for a part of facexpr itself. Anything
    else (``TypeError``, ``KeyError``, ``AttributeError``, ``RuntimeError``...) is a bug.

    Example:
        >>> is_user_error(FileNotFoundError("x.jpg")), is_user_error(TypeError("oops"))
        (True, False)
        >>> is_user_error(ModuleNotFoundError("no wandb", name="wandb"))
        True
        >>> is_user_error(ImportError("cannot import name 'x'", name="facexpr.photos"))
        False
    """
    from ..errors import FacexprError

    if isinstance(err, (FacexprError, UserError, ValueError, OSError)):
        return True
    if isinstance(err, ImportError):
        module = err.name or ""
        return not (module == "facexpr" or module.startswith("facexpr."))
    return False


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command and return its exit status.

    Errors in what the user gave become one ``facexpr: error:`` line and status 2; any other
    exception is a bug, one ``facexpr: internal error:`` line and status 1; ``--debug``
    raises either instead, with its traceback. Warnings print as one ``facexpr: warning:``
    line each. SIGTERM (in the main thread) stops the command through every ``finally`` and
    gives status 143; Ctrl-C gives 130.

    Args:
        args: What :func:`facexpr.cli.build_parser` parsed; ``args.func`` is the command's ``run``.

    Returns:
        The exit status.
    """
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if main_thread else None
    try:
        return _run(args)
    except Terminated:
        print("facexpr: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    """Run the command with warnings as one line; sort its exceptions into the user's and bugs."""
    import warnings

    with warnings.catch_warnings():
        if not args.debug:
            warnings.showwarning = show_warning
        try:
            if getattr(args, "device", None) is not None:
                from .._device import resolve_device

                resolve_device(args.device)  # before any model is loaded
            return int(args.func(args) or 0)
        except KeyboardInterrupt:
            print("facexpr: interrupted", file=sys.stderr)
            return 130
        except Exception as err:
            if args.debug:
                raise
            if is_user_error(err):
                print(f"facexpr: error: {one_line(err)}", file=sys.stderr)
                return EXIT_USAGE
            text = str(err).strip()
            what = f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
            print(f"facexpr: internal error: {what} (this is a bug in facexpr; run with --debug for the traceback)",
                  file=sys.stderr)
            return EXIT_BUG
