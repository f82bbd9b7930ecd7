import sys

from fedgs_lite.cli import main

sys.exit(main())
