"""Benchmark the ownership-chain features on a national-shaped synthetic graph.

The generator builds, with vectorised numpy and polars, a graph shaped like
the national one. It has 15,000 SNFs with distinct names. About 40 corporate
chains of 20 to 600 facilities sit under 2-3 levels of holding companies,
and the other facilities are owned by 1-3 LLCs, which individuals own in
turn (some individuals hold dozens of stakes). ``--facility-part-owners 12``
adds individuals owning facilities directly, about 200,000 OWNS edges in
all. There are 1.78M Provider nodes, the same 1.78M providers in the extract
(a small share named after facilities or chain entities) and 80,000
exclusions.

It times, with medians over repeats:

- ``prepare_bulk`` (once per run) and the serialised bulk size;
- all ``DEFAULT_PARTITION_COUNT`` NPI-range partitions in this process;
- the same partitions in a 2-process spawn pool whose workers load the bulk
  bytes and the provider parquet once, as the local compute backend does.

Run from the repository root (about 2-3 minutes with the defaults):

    .venv/bin/python benchmarks/bench_ownership.py --repeat 3
    .venv/bin/python benchmarks/bench_ownership.py --repeat 3 --facility-part-owners 12
    .venv/bin/python benchmarks/bench_ownership.py --scale 0.1 --repeat 1
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claidex_assets.npi import DEFAULT_PARTITION_COUNT, NpiRange, npi_ranges  # noqa: E402
from claidex_assets.ownership.bulk import OwnershipBulk, prepare_bulk  # noqa: E402
from claidex_assets.ownership.chain import chain_features_for_range  # noqa: E402
from claidex_assets.ownership.schema import GraphSnapshot  # noqa: E402
from claidex_assets.sources.generator_population import npi_check_digits  # noqa: E402

FACILITY_KINDS = [
    "NURSING AND REHABILITATION CENTER",
    "CARE CENTER",
    "HEALTH CARE CENTER",
    "NURSING HOME",
    "REHABILITATION AND NURSING",
    "MANOR",
    "LIVING CENTER",
    "SKILLED NURSING FACILITY",
    "HEALTHCARE AND REHABILITATION",
    "POST ACUTE",
]
ORGANIZATION_KINDS = ["MEDICAL GROUP", "PHYSICAL THERAPY", "HOME HEALTH", "FAMILY PRACTICE", "PHARMACY", "CLINIC"]
HOLDING_KINDS = ["HEALTHCARE HOLDINGS LLC", "REGIONAL HOLDINGS INC", "OPERATIONS LLC", "SENIOR CARE GROUP LLC"]


def pseudo_words(rng: np.random.Generator, count: int) -> pl.Series:
    """Return ``count`` distinct upper-case pseudo-words of 2-3 syllables, such as "MORVALEN"."""
    onsets = ["B", "BR", "C", "CR", "D", "F", "G", "GL", "H", "K", "L", "M", "N", "P", "R", "S", "ST", "T", "V", "W"]
    vowels = ["A", "E", "I", "O", "U", "AI", "EA", "OA"]
    codas = ["", "", "N", "R", "L", "S", "TH", "ND"]
    syllables = pl.Series([o + v + c for o in onsets for v in vowels for c in codas]).unique().sort()
    drawn = rng.integers(0, syllables.len(), size=(count * 2, 3))
    three = rng.random(count * 2) < 0.4
    words = pl.DataFrame(
        {
            "a": syllables.gather(drawn[:, 0]),
            "b": syllables.gather(drawn[:, 1]),
            "c": syllables.gather(drawn[:, 2]),
            "three": three,
        }
    ).select(pl.concat_str("a", "b", pl.when("three").then("c").otherwise(pl.lit(""))).alias("word"))
    unique = words["word"].unique(maintain_order=True)
    if unique.len() < count:
        raise RuntimeError(f"only {unique.len()} distinct pseudo-words for {count}; raise the draw")
    return unique.head(count)


def pick(words: pl.Series, rng: np.random.Generator, size: int, skew: float = 0.0) -> pl.Series:
    """Draw ``size`` words, uniformly or with a Zipf-like skew towards the first ones."""
    if skew:
        weights = 1.0 / np.arange(1, words.len() + 1) ** skew
        index = rng.choice(words.len(), size=size, p=weights / weights.sum())
    else:
        index = rng.integers(0, words.len(), size=size)
    return words.gather(index)


def join_words(*parts: pl.Series) -> pl.Series:
    """Join equal-length string series with single spaces."""
    return pl.select(pl.concat_str(list(parts), separator=" ")).to_series()


def generate(
    scale: float, llc_part_owners: float = 2.0, facility_part_owners: float = 0.0, seed: int = 11
) -> tuple[GraphSnapshot, pl.DataFrame]:
    """Build the snapshot and the provider extract (npi, display_name)."""
    rng = np.random.default_rng(seed)
    provider_count = int(1_780_000 * scale)
    facility_count = int(15_000 * scale)
    individual_count = int(60_000 * scale)
    words = pseudo_words(rng, 30_000)
    first_names, last_names = words.head(1_500), words.slice(1_500, 20_000)
    place_words = words.slice(21_500, 8_500)

    # Facilities: distinct "{PLACE} {PLACE} {KIND}" names.
    combos = rng.choice(place_words.len() ** 2 * len(FACILITY_KINDS), size=facility_count, replace=False)
    kinds = pl.Series(FACILITY_KINDS)
    facility_names = pl.DataFrame(
        {
            "a": place_words.gather(combos % place_words.len()),
            "b": place_words.gather(combos // place_words.len() % place_words.len()),
            "k": kinds.gather(combos // place_words.len() ** 2),
        }
    ).select(pl.concat_str("a", "b", "k", separator=" "))["a"]
    facility_ids = pl.Series([f"SNF{i:06d}" for i in range(facility_count)])

    # NPIs spread evenly over the 1-prefixed block, about 10,000 per partition.
    stems = 100_000_000 + np.arange(provider_count, dtype=np.int64) * (100_000_000 // provider_count)
    stems += rng.integers(0, 100_000_000 // provider_count, provider_count)
    npis = pl.Series("npi", stems * 10 + npi_check_digits(stems)).cast(pl.Utf8)
    order = rng.permutation(provider_count)
    facility_npis = npis.gather(order[:facility_count])

    entity_frames, edge_frames = [], []
    facility_has_npi = rng.random(facility_count) < 0.5
    entity_frames.append(
        pl.DataFrame(
            {
                "entity_id": facility_ids,
                "name": facility_names,
                "entity_type": "SNF",
                "npi": facility_npis.zip_with(
                    pl.Series(facility_has_npi), pl.Series([None] * facility_count, dtype=pl.Utf8)
                ),
            }
        )
    )

    # Corporate chains: top -> regional -> sub-holding -> opco -> facility.
    chain_sizes = np.clip((rng.pareto(1.2, 40) + 1) * 40, 20, 600).astype(np.int64)
    chain_sizes = chain_sizes[np.cumsum(chain_sizes) <= facility_count // 3]
    start = 0
    for chain, size in enumerate(chain_sizes):
        members = facility_ids.slice(start, size)
        start += size
        top = f"CORP{chain:03d}"
        regional_count = max(1, size // 150)
        sub_count = max(1, size // 25)
        regional = [f"{top}R{i}" for i in range(regional_count)]
        subs = [f"{top}S{i}" for i in range(sub_count)]
        opcos = [f"{top}O{i}" for i in range(size)]
        brand = place_words[int(rng.integers(0, place_words.len()))]
        names = (
            [f"{brand} {HOLDING_KINDS[0]}"]
            + [f"{brand} {place_words[int(rng.integers(0, place_words.len()))]} {HOLDING_KINDS[1]}" for _ in regional]
            + [f"{brand} {place_words[int(rng.integers(0, place_words.len()))]} {HOLDING_KINDS[2]}" for _ in subs]
            + [f"{facility_names[int(start - size + i)]} OPERATING COMPANY LLC" for i in range(size)]
        )
        entity_frames.append(
            pl.DataFrame(
                {"entity_id": [top, *regional, *subs, *opcos], "name": names, "entity_type": "LLC", "npi": None},
                schema_overrides={"npi": pl.Utf8},
            )
        )
        edge_frames.append(
            pl.DataFrame(
                {
                    "owner_id": [top] * regional_count
                    + [regional[i % regional_count] for i in range(sub_count)]
                    + [subs[i % sub_count] for i in range(size)]
                    + opcos,
                    "owned_id": regional + subs + opcos + members.to_list(),
                }
            )
        )
    corporate_facilities = start

    # Independent facilities: 1-3 owner LLCs from a pool where some own several.
    independent = facility_ids.slice(corporate_facilities)
    owners_per_facility = rng.choice([1, 2, 3], size=independent.len(), p=[0.6, 0.3, 0.1])
    llc_count = int(independent.len() * 0.7)
    llc_ids = pl.Series([f"LLC{i:06d}" for i in range(llc_count)])
    llc_names = join_words(pick(place_words, rng, llc_count), pick(pl.Series(HOLDING_KINDS[2:]), rng, llc_count))
    entity_frames.append(pl.DataFrame({"entity_id": llc_ids, "name": llc_names, "entity_type": "LLC", "npi": None}))
    edge_frames.append(
        pl.DataFrame(
            {
                "owner_id": pick(llc_ids, rng, int(owners_per_facility.sum()), skew=0.6),
                "owned_id": independent.gather(np.repeat(np.arange(independent.len()), owners_per_facility)),
            }
        )
    )

    # Individuals own the owner LLCs (1 + Poisson(llc_part_owners) each),
    # and optionally the facilities directly (Poisson(facility_part_owners)
    # each). Their popularity is skewed, so some hold dozens of stakes.
    individual_ids = pl.Series([f"IND{i:06d}" for i in range(individual_count)])
    individual_names = join_words(pick(first_names, rng, individual_count), pick(last_names, rng, individual_count))
    entity_frames.append(
        pl.DataFrame({"entity_id": individual_ids, "name": individual_names, "entity_type": "PERSON", "npi": None})
    )
    llc_owners = 1 + rng.poisson(llc_part_owners, llc_count)
    direct_owners = rng.poisson(facility_part_owners, facility_count)
    edge_frames.append(
        pl.DataFrame(
            {
                "owner_id": pick(individual_ids, rng, int(llc_owners.sum() + direct_owners.sum()), skew=0.3),
                "owned_id": pl.concat(
                    [
                        llc_ids.gather(np.repeat(np.arange(llc_count), llc_owners)),
                        facility_ids.gather(np.repeat(np.arange(facility_count), direct_owners)),
                    ]
                ),
            }
        )
    )
    tops = [f"CORP{c:03d}" for c in range(len(chain_sizes))]
    edge_frames.append(
        pl.DataFrame({"owner_id": pick(individual_ids, rng, len(tops) * 3), "owned_id": tops * 3})
    )
    entities = pl.concat(entity_frames, how="vertical_relaxed")
    owns = pl.concat(edge_frames).unique()

    # Providers: facilities under their names (half shortened to the two place
    # words), pharmacies and therapy groups named after a facility, a few
    # owners practising under their own names, and everyone else.
    shortened = rng.random(facility_count) < 0.5
    facility_display = facility_names.str.extract(r"^(\S+ \S+)").zip_with(pl.Series(shortened), facility_names)
    affiliated_count = int(20_000 * scale)
    affiliated = join_words(
        pick(facility_names, rng, affiliated_count), pick(pl.Series(ORGANIZATION_KINDS), rng, affiliated_count)
    )
    owner_practices = pick(individual_names, rng, int(3_000 * scale))
    rest = provider_count - facility_count - affiliated_count - owner_practices.len()
    organization = rng.random(rest) < 0.15
    people = join_words(pick(first_names, rng, rest), pick(last_names, rng, rest))
    organizations = join_words(
        pick(place_words, rng, rest), pick(place_words, rng, rest), pick(pl.Series(ORGANIZATION_KINDS), rng, rest)
    )
    others = organizations.zip_with(pl.Series(organization), people)
    display_names = pl.concat([facility_display, affiliated, owner_practices, others])
    providers = pl.DataFrame({"npi": npis.gather(order), "display_name": display_names}).sort("npi")

    # Exclusions: 80,000, a tenth reinstated; most on random providers, a
    # share of them on chain-affiliated providers, a few hundred on entities.
    exclusion_count = int(80_000 * scale)
    exclusion_ids = pl.Series([f"X{i:06d}" for i in range(exclusion_count)])
    exclusions = pl.DataFrame({"exclusion_id": exclusion_ids, "reinstated": rng.random(exclusion_count) < 0.1})
    affiliated_npis = npis.gather(order[facility_count : facility_count + affiliated_count])
    excluded_npis = pl.concat(
        [pick(npis, rng, exclusion_count - int(2_000 * scale)), pick(affiliated_npis, rng, int(2_000 * scale))]
    )
    provider_exclusions = pl.DataFrame({"npi": excluded_npis, "exclusion_id": exclusion_ids}).unique("npi")
    entity_exclusions = pl.DataFrame(
        {
            "entity_id": pick(entities["entity_id"], rng, int(300 * scale) + 1),
            "exclusion_id": pick(exclusion_ids, rng, int(300 * scale) + 1),
        }
    )

    snapshot = GraphSnapshot(
        providers=providers.rename({"display_name": "name"}),
        entities=entities,
        exclusions=exclusions,
        provider_exclusions=provider_exclusions,
        entity_exclusions=entity_exclusions,
        owns=owns,
    )
    return snapshot, providers


def split_by_range(providers: pl.DataFrame, ranges: list[NpiRange]) -> list[pl.DataFrame]:
    lows = np.array([r.low for r in ranges], dtype=np.int64)
    position = np.searchsorted(lows, providers["npi"].cast(pl.Int64).to_numpy(), side="right") - 1
    tagged = providers.with_columns(part=pl.Series(position))
    parts = {key[0]: frame.drop("part") for key, frame in tagged.partition_by("part", as_dict=True).items()}
    return [parts.get(i, providers.clear()) for i in range(len(ranges))]


_worker_state: dict = {}


def _load_worker(bulk_path: str, providers_path: str) -> None:
    _worker_state["bulk"] = OwnershipBulk.from_bytes(Path(bulk_path).read_bytes())
    _worker_state["providers"] = pl.read_parquet(providers_path)


def _peak_rss_mb() -> float:
    """Read this process's peak resident set size (VmHWM), which, unlike ru_maxrss, restarts at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _compute_in_worker(npi_range: NpiRange) -> tuple[int, float]:
    providers = _worker_state["providers"]
    number = pl.col("npi").cast(pl.Int64)
    subset = providers.filter((number >= npi_range.low) & (number < npi_range.high))
    rows = chain_features_for_range(_worker_state["bulk"], subset, npi_range).height
    return rows, _peak_rss_mb()


def run_pool(
    bulk_path: Path, providers_path: Path, ranges: list[NpiRange], workers: int, worker_threads: int
) -> tuple[float, float]:
    """Compute every range in a spawn pool; return the seconds taken and the largest worker's peak RSS in MB."""
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    # Spawned workers inherit the environment, and polars reads its thread
    # count once at import, so this caps each worker's thread pool.
    previous = os.environ.get("POLARS_MAX_THREADS")
    if worker_threads:
        os.environ["POLARS_MAX_THREADS"] = str(worker_threads)
    try:
        with concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=context, initializer=_load_worker, initargs=(str(bulk_path), str(providers_path))
        ) as pool:
            results = list(pool.map(_compute_in_worker, ranges, chunksize=4))
    finally:
        if previous is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = previous
    elapsed = time.perf_counter() - started
    rows = sum(count for count, _ in results)
    peak = max(rss for _, rss in results)
    print(f"  pool of {workers}: {rows} rows in {elapsed:.2f}s")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="share of national size (1.0 = 1.78M providers)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats of each step")
    parser.add_argument("--workers", type=int, default=2, help="processes in the pool run")
    parser.add_argument(
        "--llc-part-owners", type=float, default=2.0, help="mean extra individual owners of each owner LLC"
    )
    parser.add_argument(
        "--facility-part-owners",
        type=float,
        default=0.0,
        help="mean individual owners of each facility directly; 12 gives about 200,000 OWNS edges",
    )
    parser.add_argument(
        "--worker-threads", type=int, default=0, help="polars threads per pool worker; 0 keeps the polars default"
    )
    arguments = parser.parse_args()

    started = time.perf_counter()
    snapshot, providers = generate(arguments.scale, arguments.llc_part_owners, arguments.facility_part_owners)
    print(f"generated in {time.perf_counter() - started:.1f}s: {snapshot.row_counts()}, providers {providers.height}")

    prepare_times = []
    for _ in range(arguments.repeat):
        started = time.perf_counter()
        bulk = prepare_bulk(snapshot)
        prepare_times.append(time.perf_counter() - started)
        print(f"  prepare_bulk {prepare_times[-1]:.2f}s")
    bulk_bytes = bulk.to_bytes()
    print(f"bulk summary: {bulk.summary()}")

    ranges = npi_ranges(DEFAULT_PARTITION_COUNT)
    started = time.perf_counter()
    parts = split_by_range(providers, ranges)
    split_seconds = time.perf_counter() - started
    sequential_times, partition_times = [], []
    for _ in range(arguments.repeat):
        started = time.perf_counter()
        for npi_range, part in zip(ranges, parts):
            one = time.perf_counter()
            chain_features_for_range(bulk, part, npi_range)
            partition_times.append(time.perf_counter() - one)
        sequential_times.append(time.perf_counter() - started)
        print(f"  {len(ranges)} partitions in this process: {sequential_times[-1]:.2f}s")

    with tempfile.TemporaryDirectory() as directory:
        bulk_path, providers_path = Path(directory) / "bulk.bin", Path(directory) / "providers.parquet"
        bulk_path.write_bytes(bulk_bytes)
        providers.write_parquet(providers_path)
        pool_runs = [
            run_pool(bulk_path, providers_path, ranges, arguments.workers, arguments.worker_threads)
            for _ in range(arguments.repeat)
        ]
        pool_times = [seconds for seconds, _ in pool_runs]
        worker_rss = max(peak for _, peak in pool_runs)

    own_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    prepare = statistics.median(prepare_times)
    sequential = statistics.median(sequential_times)
    print()
    chain_sizes = bulk.facilities["chain_provider_count"]
    print(f"entities {snapshot.entities.height}, OWNS edges {snapshot.owns.height}")
    print(
        f"chain providers per facility: median {chain_sizes.median():.0f}, "
        f"p99 {chain_sizes.quantile(0.99):.0f}, max {chain_sizes.max()}"
    )
    print(f"prepare_bulk median        {prepare:.2f}s")
    print(f"serialised bulk            {len(bulk_bytes) / 1e6:.2f} MB")
    print(f"split providers by range   {split_seconds:.2f}s")
    print(f"partitions, 1 process      {sequential:.2f}s median")
    print(
        f"  per partition            median {statistics.median(partition_times) * 1000:.0f} ms, "
        f"max {max(partition_times) * 1000:.0f} ms"
    )
    pool = statistics.median(pool_times)
    print(f"partitions, {arguments.workers}-process pool  {pool:.2f}s median, spawn and load included")
    print(f"prepare + 1 process        {prepare + sequential:.2f}s")
    print(f"peak RSS                   {own_rss:.0f} MB main process, {worker_rss:.0f} MB largest pool worker")

if __name__ == "__main__":
    main()
