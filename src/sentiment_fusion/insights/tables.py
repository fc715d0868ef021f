"""Rows of dicts -> an aligned text table or CSV, for the ``insights`` commands."""

from __future__ import annotations

import csv
import io
from datetime import datetime


def _cell(value, csv_mode: bool, with_time: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if csv_mode else (f"{value:.3g}" if abs(value) < 1e-3 and value else f"{value:.3f}")
    if isinstance(value, datetime):
        if csv_mode:
            return value.isoformat()
        return value.strftime("%Y-%m-%d %H:%M") if with_time else value.strftime("%Y-%m-%d")
    text = str(value)
    return text if csv_mode else " ".join(text.split())


def format_rows(rows: list[dict], *, as_csv: bool = False, max_width: int = 80) -> str:
    """Columns in the order of the first row; numbers right-aligned; long text cut in tables."""
    if not rows:
        return "" if as_csv else "(no rows)"
    columns = list(rows[0])
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(row.get(c), True) for c in columns] for row in rows)
        return out.getvalue().rstrip("\n")
    # A column shows times when any of its values has one (hourly trends: 00:00 too).
    with_time = {
        c: any(isinstance(row.get(c), datetime) and (row[c].hour or row[c].minute) for row in rows) for c in columns
    }
    cells = [[_cell(row.get(c), False, with_time[c]) for c in columns] for row in rows]
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in line] for line in cells]
    numeric = [all(isinstance(row.get(c), (int, float)) or row.get(c) is None for row in rows) for c in columns]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]

    def fmt(line: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(line, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([fmt(columns), fmt(["-" * w for w in widths])] + [fmt(line) for line in cells])
