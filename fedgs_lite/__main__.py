"""`python -m fedgs_lite`: the entry point of the command line (the commands are in cli.py)."""

import sys

from fedgs_lite.cli import main

sys.exit(main())
