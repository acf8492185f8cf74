"""``python -m rnnkit``: the ``rnnkit`` command, for environments whose scripts folder is not on PATH."""

from __future__ import annotations

import sys

from rnnkit.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
