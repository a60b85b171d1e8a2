"""``python -m facexpr``: the same as the ``facexpr`` command."""

import sys

from .cli import main

sys.exit(main())
