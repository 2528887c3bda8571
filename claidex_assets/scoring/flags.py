"""Flag sentences attached to a calibrated score, in their fixed order.

Each flag tests published (rounded) component values:

1. billing_outlier_percentile >= 95
2. billing_outlier_score >= 80 and payment_trajectory_score >= 60
3. ownership_chain_risk >= 50 (the sentence counts the excluded chain providers)
4. program_concentration_score >= 60 (the sentence names the top program)
5. exclusion_proximity_score >= 80
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

BILLING_PERCENTILE_FLAG = "Billing above the 95th percentile of state/taxonomy peers (payments per claim)"
RAPID_GROWTH_FLAG = "Rapid growth with high billing intensity"
EXCLUSION_FLAG = "Direct or owner-level exclusion on record"
PROGRAM_DISPLAY_NAMES = {"Medicaid": "Medicaid", "Medicare": "Medicare", "MedicarePartD": "Medicare Part D"}


def chain_flag(excluded_count: int) -> str:
    """Return the ownership-chain sentence with the plural that matches ``excluded_count``."""
    noun = "provider" if excluded_count == 1 else "providers"
    return f"Ownership chain includes {excluded_count} excluded {noun}"


def concentration_flag(program: str) -> str:
    """Return the concentration sentence naming ``program`` by its display name."""
    return f"Highly concentrated in one payer program ({PROGRAM_DISPLAY_NAMES.get(program, program)})"


def _flag_rules() -> list[tuple[pl.Expr, pl.Expr]]:
    """(condition, sentence) per flag, in output order."""
    count = pl.col("chain_excluded_count")
    noun = pl.when(count == 1).then(pl.lit("provider")).otherwise(pl.lit("providers"))
    program = pl.col("top_program").replace(PROGRAM_DISPLAY_NAMES)
    return [
        (pl.col("billing_outlier_percentile") >= 95.0, pl.lit(BILLING_PERCENTILE_FLAG)),
        (
            (pl.col("billing_outlier_score") >= 80.0) & (pl.col("payment_trajectory_score") >= 60.0),
            pl.lit(RAPID_GROWTH_FLAG),
        ),
        (pl.col("ownership_chain_risk") >= 50.0, pl.format("Ownership chain includes {} excluded {}", count, noun)),
        (
            pl.col("program_concentration_score") >= 60.0,
            pl.format("Highly concentrated in one payer program ({})", program),
        ),
        (pl.col("exclusion_proximity_score") >= 80.0, pl.lit(EXCLUSION_FLAG)),
    ]


def flag_lists(scores: pl.DataFrame) -> pl.Series:
    """Return a List[Utf8] Series of the flag sentences that apply to each row, in the fixed order.

    Sentences are formatted only for the rows a rule applies to (few, in
    practice), and the lists are assembled from row offsets.
    """
    rules = _flag_rules()
    applies = scores.select(
        condition.fill_null(False).alias(f"_rule_{order}") for order, (condition, _) in enumerate(rules)
    )
    indexed = scores.select("chain_excluded_count", "top_program").with_row_index("_row").hstack(applies)
    sentences = pl.concat(
        [
            indexed.filter(f"_rule_{order}").select(
                "_row", pl.lit(order, pl.UInt8).alias("_order"), sentence.cast(pl.Utf8).alias("_sentence")
            )
            for order, (_, sentence) in enumerate(rules)
        ]
    ).sort("_row", "_order")

    per_row = applies.select(pl.sum_horizontal(pl.all().cast(pl.Int32)).alias("count")).to_series()
    offsets = pl.concat([pl.Series([0], dtype=pl.Int32), per_row.cum_sum().cast(pl.Int32)])
    lists = pa.ListArray.from_arrays(offsets.to_arrow(), sentences.get_column("_sentence").to_arrow())
    return pl.Series("flags", lists, dtype=pl.List(pl.Utf8))
