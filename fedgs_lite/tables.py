"""Tables: aligned plain text for the terminal and CSV files on disk, one way each for the whole kit."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fedgs_lite.files import atomic_write_text


def format_table(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """Aligned plain text: the first column left-aligned, the others right-aligned, a rule under the head."""
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]

    def fmt(row: Sequence[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([fmt(head), "  ".join("-" * w for w in widths), *map(fmt, body)])


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as CSV text ("\\n" line ends), columns in the given order (default: the first row's keys)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns if columns is not None else rows[0]),
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]],
              columns: Sequence[str] | None = None) -> None:
    """Write rows as a CSV file, atomically."""
    atomic_write_text(Path(path), csv_text(rows, columns))
