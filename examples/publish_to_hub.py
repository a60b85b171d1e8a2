"""Publish a model folder on the Hugging Face Hub; a dry run unless you pass --push.

The dry run checks the folder exactly as an upload would (weights, config with val and test
metrics, model card with Hub front matter, sha256, that the weights load) and lists the files
that would be uploaded, without any network access. ``--push`` uploads them with
``huggingface_hub.HfApi`` (log in first with ``hf auth login`` or set ``HF_TOKEN``). A release
folder comes from ``facexpr release``; the command line equivalent is
``facexpr publish FOLDER --repo ORG/NAME [--dry-run]``.

Usage:
    python examples/publish_to_hub.py release/better --repo my-org/facexpr-better
    python examples/publish_to_hub.py release/better --repo my-org/facexpr-better --push
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facexpr.release import publish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="release folder (model.safetensors, config.json, README.md)")
    parser.add_argument("--repo", required=True, help="Hub repository, ORG/NAME")
    parser.add_argument("--push", action="store_true", help="really upload (default: dry run)")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    args = parser.parse_args(argv)

    result = publish(args.folder, args.repo, dry_run=not args.push, private=args.private or None)
    if args.push:
        print(f"published {args.folder} to https://huggingface.co/{args.repo}: {result}")
        return 0
    print(f"dry run: {len(result)} files would be uploaded to {args.repo}:")
    for path in result:
        print(f"  {Path(path).name:<22} {Path(path).stat().st_size:>10,} bytes")
    print("run again with --push to upload them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
