"""Sphinx extension for facexpr's docs: the CLI reference and short API names.

* ``.. facexpr-cli::`` renders ``facexpr --help`` and every ``facexpr COMMAND --help`` from
  :func:`facexpr.cli.build_parser` at build time, so the CLI reference cannot go stale.
* ``.. facexpr-benchmark:: benchmarks/zoo.md`` includes a benchmark table committed by a
  benchmark script, and ```{facexpr-zoo}``` (in a MyST page) the figures made by
  ``docs/make_figures.py`` and each released model's card
  (``facexpr/weights/<name>/README.md`` with its confusion matrix). Numbers are never copied
  into the docs' sources; a part that does not exist yet is replaced by one sentence saying so.
* Public objects are documented once, where users reach them (``facexpr.load``, not
  ``facexpr.models._builder.load``). References written with another public path
  (``facexpr.models.load``, ``facexpr.training.Trainer``...) are resolved to that entry by
  object identity, so every docstring may use the path that reads best.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_refnode, nested_parse_with_titles

HELP_WIDTH = "88"


def _subcommands(parser: Any) -> dict[str, Any]:
    import argparse

    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


class FacexprCliDirective(SphinxDirective):
    """``.. facexpr-cli::`` -- one section per sub-command with its ``--help`` text."""

    has_content = False
    option_spec = {"heading": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        from facexpr.cli import build_parser

        old = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps help text at $COLUMNS
        try:
            parser = build_parser()
            blocks = [("facexpr", parser.format_help())]
            for name, sub in _subcommands(parser).items():
                blocks.append((f"facexpr {name}", sub.format_help()))
        finally:
            if old is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = old
        underline = self.options.get("heading", "-")
        lines: list[str] = []
        for title, text in blocks:
            lines += [f"``{title}``", underline * (len(title) + 4), "", ".. code-block:: text", ""]
            lines += ["   " + line if line else "" for line in text.rstrip().splitlines()]
            lines.append("")
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source="facexpr.cli.build_parser()"), container)
        return container.children


class FacexprBenchmarkDirective(SphinxDirective):
    """``.. facexpr-benchmark:: benchmarks/NAME.md`` -- include a committed benchmark table.

    The Markdown file (path relative to ``docs/``) is written by a benchmark script and
    committed with its numbers; it is included as it is, in reST and MyST pages alike. Any
    other file (a recorded ``.log``) is shown verbatim. Until the file exists, one sentence
    says so (or the ``:missing:`` text).
    """

    required_arguments = 1
    has_content = False
    option_spec = {"missing": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        from pathlib import Path

        path = Path(self.env.srcdir) / self.arguments[0]
        here = Path(self.env.doc2path(self.env.docname)).parent
        rel = os.path.relpath(path, here).replace(os.sep, "/")
        markdown = hasattr(self.state, "_renderer")
        self.env.note_dependency(str(path))  # a missing dependency re-reads the page every build
        if not path.is_file():
            text = self.options.get("missing") or (
                f"The measured table (``docs/{self.arguments[0]}``) is not in this version yet."
            )
            if markdown:
                text = text.replace("``", "`")
        elif path.suffix != ".md":  # a recorded log: shown verbatim
            self.env.note_dependency(str(path))
            text = (f"```{{literalinclude}} {rel}\n:language: text\n```" if markdown
                    else f".. literalinclude:: {rel}\n   :language: text\n")
        else:
            self.env.note_dependency(str(path))
            text = (f"```{{include}} {rel}\n```" if markdown
                    else f".. include:: {rel}\n   :parser: myst_parser.sphinx_\n")
        container = nodes.container()
        self.state.nested_parse(StringList(text.splitlines(), source=self.env.docname), self.content_offset, container)
        return container.children


class FacexprZooDirective(SphinxDirective):
    """``{facexpr-zoo}`` with ``:part: figures | cards`` (MyST pages only)."""

    has_content = False
    option_spec = {"part": lambda value: directives.choice(value, ("figures", "cards"))}

    def run(self) -> list[nodes.Node]:
        from pathlib import Path

        if not hasattr(self.state, "_renderer"):
            raise self.error("facexpr-zoo renders Markdown: use it in a MyST (.md) page.")
        here = Path(self.env.doc2path(self.env.docname)).parent
        srcdir = Path(self.env.srcdir)
        part = self.options.get("part", "cards")
        text = getattr(self, f"_{part}")(here, srcdir)
        container = nodes.container()
        self.state.nested_parse(StringList(text.splitlines(), source=self.env.docname), 0, container)
        return container.children

    def _rel(self, path: Any, here: Any) -> str:
        self.env.note_dependency(str(path))
        return os.path.relpath(path, here).replace(os.sep, "/")

    def _figures(self, here: Any, srcdir: Any) -> str:
        captions = {
            "training_curves.png": "Training curves of the released models (`history.csv` of each "
            "recipe run): loss and accuracy on train and val, per epoch.",
            "confusion_matrices.png": "Confusion matrices on FER2013 test (PrivateTest), each row "
            "normalised to the share of its true class, from each model's `config.json`.",
        }
        out = []
        for name, caption in captions.items():
            path = srcdir / "_static" / "figures" / name
            self.env.note_dependency(str(path))
            if path.is_file():
                width = [":width: 100%"] if name == "training_curves.png" else []
                out += [f"```{{figure}} {self._rel(path, here)}", *width, "", caption, "```", ""]
        if not out:
            return "*No figures yet: run `python docs/make_figures.py` once models are released.*"
        return "\n".join(out)

    def _cards(self, here: Any, srcdir: Any) -> str:
        from facexpr.models import list_models
        from facexpr.models._builder import shipped_weights_dir

        out = []
        for name in list_models():
            card = shipped_weights_dir(name) / "README.md"
            self.env.note_dependency(str(card))
            if card.is_file():
                out += [f"({name}-card)=", f"```{{include}} {self._rel(card, here)}",
                        ":relative-images:", ":heading-offset: 2", "```", ""]
        if not out:
            return "*No model has been released in this version yet.*"
        return "\n".join(out)


def _import(path: str) -> Any:
    """Resolve ``a.b.C.d`` the way Python code reaches it: attributes first, then sub-modules.

    (``facexpr.annotate`` is the function, not the module it is defined in.)
    """
    parts = path.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        if hasattr(obj, part):
            obj = getattr(obj, part)
        else:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def _data_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Give re-exported constants the docstring written under their definition.

    autodoc finds a constant's docstring only in the module it documents; for a name imported
    from elsewhere (``facexpr.training.OPTIMIZERS``) it falls back to the docstring of the
    value's type (``tuple``). Look the constant up where it is defined instead.
    """
    import sys

    from sphinx.pycode import ModuleAnalyzer

    if what not in ("data", "attribute") or not name.startswith("facexpr"):
        return
    type_doc = (type(obj).__doc__ or "").strip()
    if not lines or not type_doc or lines[0].strip() != type_doc.splitlines()[0].strip():
        return
    short = name.rsplit(".", 1)[-1]
    for modname, module in sorted(sys.modules.items()):
        if not modname.startswith("facexpr") or getattr(module, short, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # noqa: BLE001 - a module without source
            continue
        if ("", short) in docs:
            lines[:] = list(docs[("", short)])
            return
    lines[:] = []


_INDEX: dict[str, Any] = {}


def _documented(env: Any) -> tuple[dict[int, str], dict[str, list[str]]]:
    """``(id(object) -> documented name, last name component -> documented names)``."""
    objects = env.get_domain("py").objects
    key = len(objects)
    if _INDEX.get("key") != key:
        by_id: dict[int, str] = {}
        by_tail: dict[str, list[str]] = {}
        for name, entry in objects.items():
            if not name.startswith("facexpr") or entry.aliased:
                continue
            by_tail.setdefault(name.rsplit(".", 1)[-1], []).append(name)
            if entry.objtype in ("class", "function", "method", "exception", "property"):
                try:
                    by_id.setdefault(id(_import(name)), name)
                except Exception:  # noqa: BLE001 - a name autodoc knows but Python cannot reach
                    pass
        _INDEX.update(key=key, by_id=by_id, by_tail=by_tail)
    return _INDEX["by_id"], _INDEX["by_tail"]


def _resolve_alias(app: Sphinx, env: Any, node: Any, contnode: nodes.Element) -> nodes.Node | None:
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    if not target.startswith("facexpr."):
        return None
    by_id, by_tail = _documented(env)
    name = None
    try:
        name = by_id.get(id(_import(target)))
    except Exception:  # noqa: BLE001 - not importable: try the unique short name below
        pass
    if name is None:
        candidates = by_tail.get(target.rsplit(".", 1)[-1], [])
        if len(candidates) == 1:
            name = candidates[0]
    if name is None:
        return None
    entry = env.get_domain("py").objects[name]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("facexpr-cli", FacexprCliDirective)
    app.add_directive("facexpr-zoo", FacexprZooDirective)
    app.add_directive("facexpr-benchmark", FacexprBenchmarkDirective)
    app.connect("missing-reference", _resolve_alias)
    app.connect("autodoc-process-docstring", _data_docstring)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
