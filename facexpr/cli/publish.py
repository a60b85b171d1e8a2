"""``facexpr publish``: upload a release folder to the Hugging Face Hub."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``publish`` sub-command to ``subparsers``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers`` returned.
        parents: Parent parsers every sub-command takes (``--debug``).

    Returns:
        The sub-command's parser.
    """
    p = subparsers.add_parser("publish", parents=parents, help="upload a release folder to the Hugging Face Hub",
                              description="Check a release folder and upload exactly its files with huggingface_hub.HfApi.")
    p.add_argument("folder", help="release folder (see 'facexpr release')")
    p.add_argument("--repo", required=True, help="Hub repository, ORG/NAME")
    p.add_argument("--dry-run", action="store_true", help="only check and list what would be uploaded")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``facexpr publish`` with the parsed ``args``; return the exit status."""
    from ..release import publish

    result = publish(args.folder, args.repo, dry_run=args.dry_run, private=args.private or None)
    if args.dry_run:
        from .._io import sha256_file

        print(f"Dry run: these files would be uploaded to {args.repo}:")
        for path in result:
            print(f"  {path.name:<22} {path.stat().st_size:>10,} bytes  sha256 {sha256_file(path)}")
    else:
        print(f"Published to {args.repo}: {result}")
    return 0
