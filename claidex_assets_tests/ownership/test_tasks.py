import polars as pl
from hypothesis import given, settings, strategies as st

from claidex_assets.npi import make_npi, npi_ranges
from claidex_assets.ownership.tasks import providers_in_range


def _providers(stems):
    npis = sorted({make_npi(stem) for stem in stems})
    return pl.DataFrame({"npi": npis, "display_name": [f"P{n}" for n in npis]})


def test_range_bounds_are_half_open():
    ranges = npi_ranges(3)
    # The first range ends just below the second range's low bound.
    low_of_second = ranges[1].low
    providers = pl.DataFrame(
        {
            "npi": [f"{low_of_second - 1:010d}", f"{low_of_second:010d}"],
            "display_name": ["last of first", "first of second"],
        }
    )
    assert providers_in_range(providers, ranges[0].key)["display_name"].to_list() == ["last of first"]
    assert providers_in_range(providers, ranges[1].key)["display_name"].to_list() == ["first of second"]


@settings(max_examples=50)
@given(st.lists(st.integers(100_000_000, 299_999_999), max_size=60), st.integers(1, 20))
def test_range_slices_partition_providers(stems, count):
    providers = _providers(stems)
    pieces = [providers_in_range(providers, r.key) for r in npi_ranges(count)]
    assert pl.concat(pieces).equals(providers)
    for npi_range, piece in zip(npi_ranges(count), pieces):
        assert all(npi_range.contains(npi) for npi in piece["npi"])
