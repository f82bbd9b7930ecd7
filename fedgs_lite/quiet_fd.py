"""Silencing C libraries that print straight to file descriptor 1 (HiGHS's and Gurobi's banners).

Their `output_flag=False` / `OutputFlag=0` do not stop a licence banner written from C, which would
otherwise land in every notebook cell that solves a selection problem.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_stdout_fd():
    """Send what is written to file descriptor 1 to /dev/null for the duration of the block."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):  # no real stdout (some embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
