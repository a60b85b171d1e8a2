"""Sphinx configuration of facexpr's documentation.

Build it with ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are
errors; CI runs the same command in ``tests/test_docs.py``). Needs ``pip install -e ".[docs]"``.
Nothing here touches the network.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))

import facexpr  # noqa: E402

project = "facexpr"
author = "The facexpr developers"
copyright = "2026, The facexpr developers"
release = facexpr.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "myst_parser",
    "facexpr_docs",  # docs/_ext/facexpr_docs.py: the CLI reference and short API names
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "benchmarks/*.md", "tutorial/*.log", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# -- autodoc + napoleon (Google style; types live in the signatures) -------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autosummary_generate = False  # tables only; no generated stub trees
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # dataclass "Attributes:" as fields, not duplicate attribute entries
napoleon_use_rtype = False
python_use_unqualified_type_names = True

# -- intersphinx: offline by default ----------------------------------------------------------------
# No network at build time (CI has none). Set FACEXPR_DOCS_INTERSPHINX=1 on a machine with
# internet access to link torch, torchvision and huggingface_hub names to their docs.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
if os.environ.get("FACEXPR_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
        "torchvision": ("https://docs.pytorch.org/vision/stable", None),
        "huggingface_hub": ("https://huggingface.co/docs/huggingface_hub/main/en", None),
    }
intersphinx_disabled_reftypes = ["*"]

# -- MyST (Markdown: the changelog, the model cards, the benchmark table) --------------------------
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
# Benchmark tables and model cards are written by scripts as standalone Markdown files and
# included as they are; their heading levels need not nest under the including page's.
suppress_warnings = ["myst.header"]


# -- HTML -------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"facexpr {release}"
html_static_path = ["_static"]
html_css_files = ["facexpr.css"]
html_theme_options = {
    "source_repository": "https://github.com/facexpr/facexpr",
    "source_branch": "main",
    "source_directory": "docs/",
}
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = False
