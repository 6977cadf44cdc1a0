"""`python -m sim ...`: the same command line as `python run.py` and `afghan2021`."""

import sys

from sim.cli import main

sys.exit(main())
