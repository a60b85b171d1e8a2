"""What every benchmark script does with its table: print it, and write it under a marker.

A results page keeps its hand-written text above the marker; each run replaces what follows it.
"""

from __future__ import annotations

from pathlib import Path


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
