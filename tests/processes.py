"""Finding the processes a test started, however detached (Ray's raylet and workers, Flower's SuperLink):
every one inherits a marker environment variable the test sets, and /proc shows each process's
environment."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def processes_with(marker: str) -> dict[int, str]:
    """Live (not zombie) processes whose environment carries `marker`: {pid: command line}. This
    process is left out (its /proc environ is the one it started with, but it is not a leftover)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() not in (proc / "environ").read_bytes():
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def wait_until(done: Callable[[], bool], seconds: float) -> None:
    """Poll `done` every half second until it holds or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.5)


def new_marker(name: str) -> str:
    """A marker variable name no other test run uses."""
    return f"FEDGS_{name.upper()}_TEST_{os.getpid()}_{time.monotonic_ns()}"
