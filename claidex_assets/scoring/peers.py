"""Peer groups, robust z-scores, payment growth and the payments-per-claim percentile.

Peer rules, applied per year and always over the whole population:

- An eligible peer is a provider-year with total claims >= 100.
- The primary group is the eligible peers with the same (taxonomy_10, state,
  year). With fewer than 50 members the fallback group replaces it: the
  eligible peers with the same (taxonomy_10, year) in any state. With no
  eligible peer at all the level is 'none' and every z is 0.
- Every provider-year gets a z against its group, eligible or not.

Growth g_t = (P_t - P_{t-1}) / max(P_{t-1}, 1) exists only when the provider
has payment rows in both t and t-1 inside the window; a gap year leaves it
null. Growth values form their own groups with the same rules, where a
growth value is a peer value when its provider-year t is eligible.

NaN and zero-scale policy: see :mod:`claidex_assets.scoring.stats`. A group
whose members share one value has MAD = 0 and gives z = 0 at that value and
z = +/-5 elsewhere. z is 0, never NaN, for a value without a group, and
z_growth is null where growth is null.

Group keys are integer ids built from the dense Enum codes of taxonomy_10
and state plus the year, so the group_by, joins and sorts on about 6.5M
provider-years stay cheap.
"""

from __future__ import annotations

import logging

import polars as pl

from claidex_assets.scoring.metrics import (
    add_billing_metrics,
    aggregate_provider_years,
    resolve_taxonomy_and_state,
)
from claidex_assets.scoring.schemas import LEVELS, PAYMENTS, PEER_METRICS, PROVIDERS, check_schema
from claidex_assets.scoring.stats import robust_z

logger = logging.getLogger(__name__)

WINDOW_YEARS = 5
ELIGIBLE_MIN_CLAIMS = 100.0
STATE_GROUP_MIN_PEERS = 50

LEVEL_STATE = "state"
LEVEL_TAXONOMY = "taxonomy"
LEVEL_NONE = "none"

BILLING_VALUES = ("x1", "x2", "x3")
GROWTH_VALUE = "growth"


def compute_peer_metrics(payments: pl.DataFrame, providers: pl.DataFrame) -> pl.DataFrame:
    """Compute the provider-year metrics and peer z-scores for the window T-4..T.

    ``payments`` has one row per (npi, year, program) of the combined payments
    view and ``providers`` one row per NPI. Returns one row per provider-year
    of a valid NPI, with the columns of ``PEER_METRICS``, sorted by (npi, year).
    ``m1_percentile`` is set on each provider's most recent year only.
    """
    payments = check_schema(payments, PAYMENTS, "payments")
    providers = check_schema(providers, PROVIDERS, "providers")

    window_end = payments.get_column("year").max()
    if window_end is None:
        logger.warning("payments has no row with a year; returning empty peer metrics")
        return pl.DataFrame(schema=PEER_METRICS).with_columns(pl.col("taxonomy_10", "state").cast(pl.Enum([])))
    window_start = window_end - (WINDOW_YEARS - 1)
    window = payments.lazy().filter(pl.col("year").is_between(window_start, window_end))

    years = aggregate_provider_years(window, window_start)
    years = resolve_taxonomy_and_state(years, window, providers)
    years = add_billing_metrics(years).with_columns(
        pl.lit(window_end, pl.Int32).alias("window_end_year"),
        (pl.col("claims") >= ELIGIBLE_MIN_CLAIMS).alias("eligible"),
    )
    years = _add_growth(years)
    provider_count = int(years.get_column("_latest").sum())
    years = _add_group_ids(years.drop("npi_number"), window_start)
    years = _add_z_scores(years)
    years = _add_m1_percentile(years)
    logger.info(
        "peer metrics: %s provider-years of %s NPIs in %s..%s",
        years.height,
        provider_count,
        window_start,
        window_end,
    )
    return years.select(list(PEER_METRICS))


def _add_growth(years: pl.DataFrame) -> pl.DataFrame:
    """Add year-over-year payment growth and ``_latest`` (each NPI's last year) on a frame sorted by (npi, year)."""
    number = pl.col("npi_number")
    previous = pl.col("payments").shift(1)
    consecutive = (number == number.shift(1)) & (pl.col("year").shift(1) == pl.col("year") - 1)
    growth = (pl.col("payments") - previous) / pl.max_horizontal(previous, pl.lit(1.0))
    return years.with_columns(
        pl.when(consecutive).then(growth).otherwise(None).alias(GROWTH_VALUE),
        (number != number.shift(-1)).fill_null(True).alias("_latest"),
    )


def _add_group_ids(years: pl.DataFrame, window_start: int) -> pl.DataFrame:
    """Add integer keys ``_taxonomy_group`` (taxonomy_10, year) and ``_state_group`` (taxonomy_10, year, state).

    taxonomy_10 and state are Enum columns whose codes are dense, so
    ``_state_group = _taxonomy_group * state_slots + state_code`` and sorting
    by ``_state_group`` also sorts by ``_taxonomy_group``.
    """
    state_slots = len(years.schema["state"].categories)
    group_slots = len(years.schema["taxonomy_10"].categories) * WINDOW_YEARS * state_slots
    # Int32 keys halve the memory of two 6.5M-row columns; Int64 only for
    # pathological numbers of distinct taxonomies and states.
    key_type = pl.Int32 if group_slots < 2**31 else pl.Int64
    year_offset = (pl.col("year") - window_start).cast(pl.Int64)
    taxonomy_group = pl.col("taxonomy_10").to_physical().cast(pl.Int64) * WINDOW_YEARS + year_offset
    state_group = taxonomy_group * state_slots + pl.col("state").to_physical().cast(pl.Int64)
    return years.with_columns(
        taxonomy_group.cast(key_type).alias("_taxonomy_group"), state_group.cast(key_type).alias("_state_group")
    )


def _positions(keys: pl.Series, table: pl.DataFrame, key: str, slots: int) -> tuple[pl.Series, pl.DataFrame]:
    """Lay ``table`` out so that ``laid_out[positions[i]]`` is the row for ``keys[i]``; nulls where absent.

    With few slots (the usual case) the table gets one row per possible key
    in 0..slots-1 and a key is its own position, so per-row values come from
    a cheap gather instead of a hash join over millions of keys. With more
    slots than keys the table is joined to the keys directly.
    """
    if slots <= max(keys.len(), 1):
        dense = pl.int_range(0, slots, dtype=keys.dtype, eager=True).alias(key).to_frame()
        return keys, dense.join(table, on=key, how="left", maintain_order="left")
    joined = keys.alias(key).to_frame().join(table, on=key, how="left", maintain_order="left")
    return pl.int_range(0, keys.len(), dtype=pl.Int64, eager=True), joined


def _group_statistics(members: pl.DataFrame, key: str, slots: int) -> pl.DataFrame:
    """Member counts, medians and MADs of every peer value per group of ``key``.

    ``members`` holds the eligible provider-years with ``key`` ascending, so
    each group is a contiguous slice and the median aggregations read slices
    instead of hashing millions of keys. All four values go through one aggregation
    for the medians and one for the MADs. Median and count skip a null
    growth (no previous year), so the growth members are the eligible
    provider-years with a growth value.
    """
    values = [*BILLING_VALUES, GROWTH_VALUE]
    frame = members.select(pl.col(key).set_sorted(), *values)
    medians = (
        frame.lazy()
        .group_by(key)
        .agg(
            pl.col(BILLING_VALUES[0]).count().cast(pl.Int32).alias("billing_count"),
            pl.col(GROWTH_VALUE).count().cast(pl.Int32).alias("growth_count"),
            *[pl.col(column).median().alias(f"{column}_median") for column in values],
        )
        .collect()
    )
    positions, laid_out = _positions(frame.get_column(key), medians, key, slots)
    row_positions = pl.lit(positions)
    # The absolute deviations feed the MAD aggregation in the same query, so
    # they are never stored as columns of their own.
    mads = (
        frame.lazy()
        .select(
            key,
            *[
                (pl.col(column) - pl.lit(laid_out.get_column(f"{column}_median")).gather(row_positions)).abs()
                for column in values
            ],
        )
        .group_by(key)
        .agg(pl.col(column).median().alias(f"{column}_mad") for column in values)
        .collect()
    )
    return medians.join(mads, on=key, how="left")


def _resolve_groups(years: pl.DataFrame, state_slots: int, group_slots: int) -> pl.DataFrame:
    """Choose the level and statistics of each state group, one row per ``_state_group``.

    The level depends only on the member counts of the state group and of
    its taxonomy group, so it is decided once per group, not per row.
    """
    # One sort of the eligible rows by the state key serves both levels,
    # because sorting by _state_group also sorts by _taxonomy_group.
    members = (
        years.lazy()
        .filter("eligible")
        .select("_state_group", "_taxonomy_group", *BILLING_VALUES, GROWTH_VALUE)
        .sort("_state_group")
        .collect()
    )
    state_stats = _group_statistics(members, "_state_group", group_slots)
    taxonomy_stats = _group_statistics(members.drop("_state_group"), "_taxonomy_group", group_slots // state_slots)
    del members

    if group_slots <= years.height:
        key_type = years.schema["_state_group"]
        groups = pl.int_range(0, group_slots, dtype=key_type, eager=True).alias("_state_group").to_frame()
    else:
        groups = years.select(pl.col("_state_group").unique())
    groups = groups.with_columns((pl.col("_state_group") // state_slots).alias("_taxonomy_group"))
    groups = groups.join(
        state_stats.select(pl.all().name.prefix("_s_")), left_on="_state_group", right_on="_s__state_group", how="left"
    ).join(
        taxonomy_stats.select(pl.all().name.prefix("_t_")),
        left_on="_taxonomy_group",
        right_on="_t__taxonomy_group",
        how="left",
    )

    groups = groups.with_columns(
        _level("billing_count").alias("peer_group_level"),
        _level("growth_count").alias("growth_group_level"),
    )
    chosen = [
        _pick("peer_group_level", "billing_count", 0).cast(pl.Int32).alias("peer_count"),
        _pick("growth_group_level", "growth_count", 0).cast(pl.Int32).alias("growth_peer_count"),
    ]
    for column in BILLING_VALUES:
        for statistic in ("median", "mad"):
            chosen.append(_pick("peer_group_level", f"{column}_{statistic}", None).alias(f"_{column}_{statistic}"))
    for statistic in ("median", "mad"):
        chosen.append(
            _pick("growth_group_level", f"{GROWTH_VALUE}_{statistic}", None).alias(f"_{GROWTH_VALUE}_{statistic}")
        )
    return groups.select("_state_group", "peer_group_level", "growth_group_level", *chosen)


def _add_z_scores(years: pl.DataFrame) -> pl.DataFrame:
    """Add each provider-year's peer levels and counts, z1..z3 and z_growth."""
    state_slots = len(years.schema["state"].categories)
    group_slots = len(years.schema["taxonomy_10"].categories) * WINDOW_YEARS * state_slots
    groups = _resolve_groups(years, state_slots, group_slots)
    positions, groups = _positions(years.get_column("_state_group"), groups, "_state_group", group_slots)

    # Each per-row value is a gather from the group table inside one
    # parallel with_columns, so no per-row median or MAD column is kept.
    row_positions = pl.lit(positions)

    def at_row(column: str) -> pl.Expr:
        return pl.lit(groups.get_column(column)).gather(row_positions)

    per_row = ["peer_group_level", "growth_group_level", "peer_count", "growth_peer_count"]
    pairs = [("z1", "x1"), ("z2", "x2"), ("z3", "x3"), ("z_growth", GROWTH_VALUE)]
    return years.with_columns(
        *[at_row(column).alias(column) for column in per_row],
        *[robust_z(pl.col(value), at_row(f"_{value}_median"), at_row(f"_{value}_mad")).alias(z) for z, value in pairs],
    )


def _level(count: str) -> pl.Expr:
    state_count = pl.col(f"_s_{count}").fill_null(0)
    taxonomy_count = pl.col(f"_t_{count}").fill_null(0)
    return (
        pl.when(state_count >= STATE_GROUP_MIN_PEERS)
        .then(pl.lit(LEVEL_STATE))
        .when(taxonomy_count > 0)
        .then(pl.lit(LEVEL_TAXONOMY))
        .otherwise(pl.lit(LEVEL_NONE))
        .cast(LEVELS)
    )


def _pick(level: str, statistic: str, default: object) -> pl.Expr:
    """Select the group statistic at the level in column ``level``, or ``default`` at level 'none'."""
    return (
        pl.when(pl.col(level) == LEVEL_STATE)
        .then(pl.col(f"_s_{statistic}"))
        .when(pl.col(level) == LEVEL_TAXONOMY)
        .then(pl.col(f"_t_{statistic}"))
        .otherwise(pl.lit(default))
    )


def _add_m1_percentile(years: pl.DataFrame) -> pl.DataFrame:
    """Add the m1 percentile within the peer group on each provider's most recent year.

    The share of the group's members with a strictly lower m1, times 100.
    A member (an eligible provider-year) is compared with the other n - 1
    members, which is SQL PERCENT_RANK; a non-member is compared with all n.
    A member of a group of one gets 0. Level 'none' and older years get null.
    """
    indexed = years.lazy().select(
        "_state_group", "_taxonomy_group", "peer_group_level", "eligible", "m1", "_latest"
    ).with_row_index("_row")
    queries = indexed.filter(pl.col("_latest") & (pl.col("peer_group_level") != LEVEL_NONE)).select(
        "_state_group", "_taxonomy_group", "m1", "peer_group_level", "_row", pl.lit(0, pl.UInt32).alias("_member")
    )
    members = indexed.filter("eligible").select(
        "_state_group",
        "_taxonomy_group",
        "m1",
        pl.lit(None, LEVELS).alias("peer_group_level"),
        pl.lit(None, pl.UInt32).alias("_row"),
        pl.lit(1, pl.UInt32).alias("_member"),
    )

    # One stable sort by m1 serves both levels. Queries come first, so a query
    # sorts before the members with an equal m1. The running member count of
    # its group at a query row is then the number of members with a lower m1.
    member = pl.col("_member")
    lower = (
        pl.concat([queries, members])
        .sort("m1", maintain_order=True)
        .with_columns(
            member.cum_sum().over("_state_group").alias("_state_lower"),
            member.cum_sum().over("_taxonomy_group").alias("_taxonomy_lower"),
        )
        .filter(member == 0)
        .select(
            "_row",
            pl.when(pl.col("peer_group_level") == LEVEL_STATE)
            .then(pl.col("_state_lower"))
            .otherwise(pl.col("_taxonomy_lower"))
            .alias("_lower"),
        )
        .collect()
    )
    lower_counts = pl.repeat(None, years.height, dtype=pl.UInt32, eager=True).scatter(
        lower.get_column("_row"), lower.get_column("_lower")
    )
    years = years.with_columns(lower_counts.alias("_lower"))

    denominator = pl.when(pl.col("eligible")).then(pl.col("peer_count") - 1).otherwise(pl.col("peer_count"))
    percentile = (
        pl.when(pl.col("_lower").is_null())
        .then(None)
        .when(denominator <= 0)
        .then(0.0)
        .otherwise(100.0 * pl.col("_lower") / denominator)
    )
    return years.with_columns(percentile.alias("m1_percentile")).drop("_lower")
