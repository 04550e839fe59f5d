"""``python -m analysis PATH [--out DIR]``."""

import sys

from ._plot_cli import main

sys.exit(main())
