"""Small markdown tables attached to materializations."""

from collections.abc import Mapping

import polars as pl

SCORE_BANDS = [(0, 30), (30, 60), (60, 80), (80, 100.01)]
LABEL_ORDER = ["Low", "Moderate", "Elevated", "High"]


def reason_counts_markdown(counts: Mapping[str, int]) -> str:
    if not counts:
        return "No rows quarantined."
    lines = ["| reason | rows |", "|---|---:|"]
    lines += [f"| {reason} | {count} |" for reason, count in sorted(counts.items())]
    return "\n".join(lines)


def score_distribution_markdown(scores: pl.DataFrame, column: str = "risk_score") -> str:
    """Render row counts per score band and per label, with the band's mean raw score."""
    if scores.height == 0:
        return "No scored providers."
    # Filter two narrow columns, not the wide frame with its text and list columns.
    scores = scores.select(column, "r_raw")
    lines = ["| band | label | providers | share | mean r_raw |", "|---|---|---:|---:|---:|"]
    for (low, high), label in zip(SCORE_BANDS, LABEL_ORDER):
        band = scores.filter((pl.col(column) >= low) & (pl.col(column) < high))
        mean_raw = band["r_raw"].mean() if band.height else None
        mean_text = f"{mean_raw:.2f}" if mean_raw is not None else "-"
        upper = min(high, 100)
        lines.append(
            f"| {low}-{upper} | {label} | {band.height} | {100 * band.height / scores.height:.1f}% | {mean_text} |"
        )
    return "\n".join(lines)


def partition_table_markdown(rows: list[dict]) -> str:
    """Render one line per partition: key, NPI bounds, rows and seconds."""
    lines = ["| partition | first NPI | last NPI | providers | seconds | computed |", "|---|---|---|---:|---:|---|"]
    for row in rows:
        lines.append(
            f"| {row['partition']} | {row['low']} | {row['high']} | {row['rows']} | "
            f"{row['seconds']:.2f} | {'yes' if row['computed'] else 'reused'} |"
        )
    return "\n".join(lines)
