"""Markdown pieces for the model card and reports: tables, escaped cells, code spans, numbers as readers want them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def escape_cell(text: str) -> str:
    """Text safe inside a table cell: a bare '|' would end the cell, a newline the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table_cell(text: str) -> str:
    return escape_cell(text) or " "


def code_span(text: str) -> str:
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def finite_number(value: object) -> float | None:
    """`value` as a finite float, or None (missing, None, NaN: an undefined score)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def score_text(value: object, digits: int = 3) -> str:
    number = finite_number(value)
    return "n/a" if number is None else f"{number:.{digits}f}"


def percent_text(fraction: object) -> str:
    """A fraction (0.56) as a reader wants it: "56 %"."""
    number = finite_number(fraction)
    return "n/a" if number is None else f"{100 * number:.0f} %"


def count_text(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "n/a"


def mean_std_text(scores: Mapping[str, Any], metric: str, digits: int = 3) -> str:
    summary = scores.get(metric) or {}
    mean, std = finite_number(summary.get("mean")), finite_number(summary.get("std"))
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def setting_text(value: object) -> str:
    """A hyperparameter as a reader wants it: 1e-05 rather than 0.000, 'yes' rather than True."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {setting_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(setting_text(v) for v in value)
    return str(value)


def duration_text(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
