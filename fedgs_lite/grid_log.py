"""The grid's call log: one JSON line per `reproduce` call, so a grid spread over calls reports its time.

A grid trained over several calls (a GPU lent ten minutes at a time, a --time-limit) appends one line
per call to `<out>/grid_calls.jsonl`: when it started, on what device, its wall time and what it
trained. The summary sums the calls that trained something. A line torn by a killed call is skipped.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

GRID_LOG = "grid_calls.jsonl"


def device_name(device: str = "auto") -> str:
    """What a grid ran on, for its summary: the GPU's name, or the CPU's and its core count."""
    if device != "cpu" and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()} ({os.cpu_count()} logical cores)"


def log_grid_call(out: str | Path, **entry: Any) -> None:
    """Append one `reproduce` call (start, device, wall time, runs trained...) to <out>/grid_calls.jsonl,
    so a grid spread over several calls (a GPU lent 10 minutes at a time) reports its whole time."""
    path = Path(out) / GRID_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab+") as f:  # appends go to the end wherever we read
        torn = f.seek(0, os.SEEK_END) > 0 and f.seek(-1, os.SEEK_END) >= 0 and f.read(1) != b"\n"
        f.write((("\n" if torn else "") + json.dumps(entry) + "\n").encode())  # a killed call's torn line


def grid_calls(out: str | Path) -> list[dict[str, Any]]:
    """The logged calls that trained something (ran > 0, or interrupted while training). A line torn by
    a killed call is skipped (its time is lost, the others count)."""
    path = Path(out) / GRID_LOG
    if not path.exists():
        return []
    calls = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            call = json.loads(line)
        except ValueError:
            continue
        if isinstance(call, dict) and isinstance(call.get("wall_time"), int | float):
            calls.append(call)
    return [c for c in calls if c.get("ran", 0) > 0 or c.get("interrupted")]
