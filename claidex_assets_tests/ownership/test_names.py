import numpy as np
import polars as pl
import pytest
from hypothesis import given, strategies as st

from claidex_assets.ownership import names
from claidex_assets.ownership.names import (
    JoinedTexts,
    find_containments,
    first_containing_text,
    may_occur_in_expr,
    name_grams,
    name_key_expr,
)


def keys_of(values: list[str | None]) -> list[str | None]:
    return pl.DataFrame({"name": values}, schema={"name": pl.Utf8}).select(name_key_expr("name"))["name"].to_list()


def pairs_of(patterns: list[str], texts: list[str | None]) -> set[tuple[int, int]]:
    pattern_index, text_index = find_containments(patterns, texts)
    return set(zip(pattern_index.tolist(), text_index.tolist()))


def test_name_key_trims_and_lowercases():
    assert keys_of(["  Arbor Glen  ", "ARBOR GLEN", "\tarbor glen\n"]) == ["arbor glen"] * 3


def test_name_key_keeps_inner_whitespace():
    # Only the ends are trimmed; two inner spaces stay two spaces.
    assert keys_of(["Arbor  Glen"]) == ["arbor  glen"]


def test_name_key_length_guard():
    # "abc" has 3 characters after trimming, so it never matches; "abcd" has 4.
    assert keys_of(["abc", "  abc  ", "abcd", " ABCD "]) == [None, None, "abcd", "abcd"]


def test_name_key_null_and_empty():
    assert keys_of([None, "", "   "]) == [None, None, None]


def test_name_key_counts_code_points():
    # "äöüß" is 4 code points (8 bytes in UTF-8), so it is long enough.
    assert keys_of(["ÄÖÜß", "ÄÖÜ"]) == ["äöüß", None]


def test_containments_basic_pairs():
    patterns = ["oak manor", "manor", "pine"]
    texts = ["oak manor east", "pine ridge", "birch hall", None, "manor of oak manor"]
    # Text 0 contains "oak manor" and its suffix "manor". Text 1 contains
    # "pine". Text 4 contains "manor" twice and "oak manor" once, and each
    # pair is reported once. The null text 3 matches nothing.
    assert pairs_of(patterns, texts) == {(0, 0), (1, 0), (2, 1), (0, 4), (1, 4)}


def test_containments_sorted_by_text_then_pattern():
    pattern_index, text_index = find_containments(["bbbb", "aaaa"], ["aaaa bbbb", "bbbb", "aaaa"])
    assert text_index.tolist() == [0, 0, 1, 2]
    assert pattern_index.tolist() == [0, 1, 0, 1]


def test_containments_reject_across_joint():
    # Texts are scanned joined by the joint character. A pattern that contains
    # it could match across two neighbouring names: "ab" + joint + "cd"
    # contains "b\x00c", but neither name does. The third name contains the
    # character itself, so it does contain the pattern.
    pattern = "b" + names._JOINT + "c"
    assert pairs_of([pattern], ["ab", "cd", "xb" + names._JOINT + "cx"]) == {(0, 2)}


def test_containments_reject_pattern_ending_at_joint():
    pattern = "ab" + names._JOINT
    assert pairs_of([pattern], ["ab", "cd"]) == set()


def test_containments_non_ascii_positions():
    # Multi-byte characters before a match must not shift it into the next name.
    assert pairs_of(["über", "haus"], ["ßüüüber", "xhaus", "üb"]) == {(0, 0), (1, 1)}


def test_containments_across_batches(monkeypatch):
    monkeypatch.setattr(names, "_TEXT_BATCH", 2)
    texts = ["none", "oak manor", "x", "y", "oak manor west"]
    assert pairs_of(["oak manor"], texts) == {(0, 1), (0, 4)}


def test_containments_empty_inputs():
    assert pairs_of([], ["abcd"]) == set()
    assert pairs_of(["abcd"], []) == set()


def test_containments_reject_duplicate_pattern():
    with pytest.raises(ValueError, match="duplicate name pattern 'abcd'"):
        find_containments(["abcd", "abcd"], ["abcd"])


def test_containments_reject_empty_pattern():
    with pytest.raises(ValueError, match="empty name pattern"):
        find_containments(["abcd", ""], ["abcd"])


def test_first_containing_text_picks_smallest_index():
    # "care" is in texts 1 and 3, so 1; "pine" is in none, so -1.
    first = first_containing_text(["care", "pine", "west"], ["oak", "elm care", "oak west", "care west"])
    assert first.tolist() == [1, -1, 2]
    assert first.dtype == np.int64


@given(
    st.lists(st.text(alphabet="ab\x00é", min_size=1, max_size=4), max_size=6, unique=True),
    st.lists(st.one_of(st.none(), st.text(alphabet="ab\x00é", max_size=10)), max_size=8),
)
def test_containments_match_brute_force(patterns, texts):
    expected = {
        (p, t)
        for p, pattern in enumerate(patterns)
        for t, text in enumerate(texts)
        if text is not None and pattern in text
    }
    assert pairs_of(patterns, texts) == expected


def test_name_grams_distinct_substrings():
    # "abcde" has the 4-grams "abcd" and "bcde"; "abcd" repeats; "abc" is too short.
    assert name_grams(["abcde", "abcd", "abc", None]).to_list() == ["abcd", "bcde"]


def test_may_occur_rejects_unknown_grams():
    grams = name_grams(["oak manor east"])
    frame = pl.DataFrame({"key": ["oak manor", "manor", "pine hall", "oak pine manor", None]})
    # "oak pine manor" starts and ends with known grams, but its middle
    # "pine" (characters 5-8) occurs in no text.
    assert frame.select(may_occur_in_expr("key", grams))["key"].to_list() == [True, True, False, False, None]


@given(
    st.lists(st.text(alphabet="abé ", min_size=4, max_size=9), min_size=1, max_size=6, unique=True),
    st.lists(st.text(alphabet="abé ", max_size=14), min_size=1, max_size=6),
)
def test_may_occur_keeps_every_substring(patterns, texts):
    # The test is only a necessary condition: it may keep a pattern that no
    # text contains, but never drops one that some text contains.
    kept = pl.DataFrame({"key": patterns}).select(may_occur_in_expr("key", name_grams(texts)))["key"].to_list()
    for pattern, keep in zip(patterns, kept):
        if any(pattern in text for text in texts):
            assert keep


def test_joined_texts_reused_across_automatons(monkeypatch):
    monkeypatch.setattr(names, "_TEXT_BATCH", 2)
    joined = JoinedTexts(["oak manor", None, "pine hall", "oak hall"])
    assert len(joined.batches) == 2
    assert pairs_of(["hall"], joined) == {(0, 2), (0, 3)}
    assert pairs_of(["oak "], joined) == {(0, 0), (0, 3)}
