#!/usr/bin/env python3
"""`python run.py ...` from a checkout: the same command line as the installed `afghan2021` and `python -m sim`
(the code lives in sim/cli.py; `python run.py --help` lists the commands)."""

import sys

from sim.cli import *  # noqa: F401,F403  (tests and scripts use run.build_parser, run.MAX_SEED, ...)
from sim.cli import main

if __name__ == "__main__":
    sys.exit(main())
