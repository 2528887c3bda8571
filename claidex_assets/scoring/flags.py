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


def flags_expr() -> pl.Expr:
    """List[Utf8] of the flag sentences that apply to each row, in the fixed order."""
    count = pl.col("chain_excluded_count")
    noun = pl.when(count == 1).then(pl.lit("provider")).otherwise(pl.lit("providers"))
    program = pl.col("top_program").replace(PROGRAM_DISPLAY_NAMES)
    candidates = [
        pl.when(pl.col("billing_outlier_percentile") >= 95.0).then(pl.lit(BILLING_PERCENTILE_FLAG)),
        pl.when((pl.col("billing_outlier_score") >= 80.0) & (pl.col("payment_trajectory_score") >= 60.0)).then(
            pl.lit(RAPID_GROWTH_FLAG)
        ),
        pl.when(pl.col("ownership_chain_risk") >= 50.0).then(
            pl.format("Ownership chain includes {} excluded {}", count, noun)
        ),
        pl.when(pl.col("program_concentration_score") >= 60.0).then(
            pl.format("Highly concentrated in one payer program ({})", program)
        ),
        pl.when(pl.col("exclusion_proximity_score") >= 80.0).then(pl.lit(EXCLUSION_FLAG)),
    ]
    return pl.concat_list([c.cast(pl.Utf8) for c in candidates]).list.drop_nulls()
