"""What every benchmark script does with its table: print it, and write it under a marker.

A results page keeps its hand-written text above the marker; each run replaces what follows it.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import sys
import time
from pathlib import Path


class Run:
    """When and where a benchmark ran: started on creation, described by :meth:`header`."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.load_before = os.getloadavg()

    def minutes(self) -> float:
        """Minutes since the run started."""
        return (time.perf_counter() - self.started) / 60

    def header(self, threads: int | str, note: str = "accuracies do not depend on it", versions: str = "") -> str:
        """One line: date, minutes, machine, threads, versions and the load average before and now.

        Args:
            threads: Torch's thread count, or a phrase that says how the threads were used.
            note: What the load average means for the figures below.
            versions: What follows facexpr's version (e.g. the other tools measured).
        """
        import facexpr  # here, not at the top: bench_startup times `import facexpr` itself

        load_after = os.getloadavg()
        threads_text = f"torch threads {threads}" if isinstance(threads, int) else threads
        return (
            f"Measured {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} in {self.minutes():.1f} min on "
            f"{platform.machine()}, {os.cpu_count()} CPU cores, {threads_text}, facexpr "
            f"{facexpr.__version__}{versions}; load average {self.load_before[0]:.2f} at the start and "
            f"{load_after[0]:.2f} at the end ({note})."
        )


def command_line(module: str, argv: list[str], env: str | None = None) -> str:
    """The command that reproduces a run, as the pages quote it: ``python -m MODULE ARGS``.

    Args:
        module: The script's module, run from the repository root (``benchmarks.bench_photos``).
        argv: Its arguments.
        env: The variables set before it; by default ``OMP_NUM_THREADS`` as this run has it.
    """
    if env is None:
        threads = os.environ.get("OMP_NUM_THREADS")
        env = f"OMP_NUM_THREADS={threads}" if threads else ""
    return (f"{env} python -m {module} " + " ".join(shlex.quote(a) for a in argv)).strip()


def publish(
    run: Run, threads: int | str, module: str, argv: list[str] | None, body: list[str], out: Path | None,
    marker: str, title: str, *, note: str = "accuracies do not depend on it", versions: str = "",
    env: str | None = None,
) -> str:
    """Print a run's report and write it under ``marker`` in ``out``: what every benchmark ends with.

    The report is :meth:`Run.header`, the command that reproduces the run (:func:`command_line`
    of ``module`` with ``argv``, by default ``sys.argv[1:]``), then the ``body`` lines.

    Returns:
        The report, Markdown.
    """
    command = command_line(module, argv if argv is not None else sys.argv[1:], env)
    report = "\n".join([run.header(threads, note, versions), "", f"Command: `{command}`", "", *body])
    print(report)
    if out is not None:
        write_results(out, marker, report, title)
    return report


def write_results(path: Path, marker: str, report: str, title: str = "") -> None:
    """Write ``report`` below ``marker`` in ``path`` (atomically), keeping the text above the marker.

    Args:
        path: The Markdown page (e.g. ``docs/benchmarks/photos.md``).
        marker: An HTML comment that separates the hand-written text from the results.
        report: The results, Markdown.
        title: The head of a new page, when ``path`` does not exist yet or has no marker and no text.
    """
    from facexpr._io import atomic_write  # imported here: bench_startup times `import facexpr` itself

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    head = (text.split(marker)[0] if marker in text else text or title).rstrip()
    page = (head + "\n\n" if head else "") + marker + "\n\n" + report.rstrip() + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
