"""Settings for the whole suite (the tests and the package's doctests).

CPU predictions run in int8 where the CPU qualifies (``facexpr.models.int8_supported``), and a
model whose weights ship no int8 twin gets one built on first use (seconds). Most tests and
doctests predict with freshly initialised models and compare with the float32 network, so the
suite runs with ``FACEXPR_INT8=0`` (``precision="auto"`` means float32) unless the environment
sets it; ``tests/test_int8.py`` covers the int8 path, ``auto`` included, on every machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("FACEXPR_INT8", "0")
