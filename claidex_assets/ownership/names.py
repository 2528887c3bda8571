"""Name keys and substring matching for linking providers to ownership entities.

Two names are compared through their keys: the name with leading and trailing
whitespace removed (polars ``str.strip_chars``, which trims Unicode
whitespace), then lower-cased (polars ``str.to_lowercase``, full Unicode case
mapping). Inner whitespace is kept as it is. A key shorter than
:data:`MIN_NAME_LENGTH` code points never matches anything, so ``"ABC"`` never
links while ``" ABCD "`` links as ``"abcd"``.

"A contains B" means B's key is a substring of A's key. :func:`find_containments`
finds those pairs for many patterns against many texts at once with an
Aho-Corasick automaton, in time linear in the total length of the names plus
the number of matches, never comparing every pattern with every text.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import ahocorasick
import numpy as np
import polars as pl

logger = logging.getLogger(__name__)

MIN_NAME_LENGTH = 4

# Texts are scanned in batches joined by this character, so one automaton call
# covers many names. A match that crosses a joint is discarded by position, so
# names that contain the character themselves are still matched correctly.
_JOINT = "\x00"
# Names per scanned batch: bounds the size of the joined string and of the
# match buffer without adding noticeable per-call overhead.
_TEXT_BATCH = 250_000


def name_key_expr(column: str) -> pl.Expr:
    """Build the matching key of a name column: trimmed, lower-cased, null when too short or null."""
    key = pl.col(column).str.strip_chars().str.to_lowercase()
    return pl.when(key.str.len_chars() >= MIN_NAME_LENGTH).then(key).otherwise(None)


def name_grams(texts: Sequence[str | None]) -> pl.Series:
    """Collect every distinct substring of :data:`MIN_NAME_LENGTH` characters of the texts."""
    width = MIN_NAME_LENGTH
    grams = {text[i : i + width] for text in texts if text for i in range(len(text) - width + 1)}
    return pl.Series("gram", sorted(grams), dtype=pl.Utf8)


def may_occur_in_expr(column: str, grams: pl.Series) -> pl.Expr:
    """Build a cheap necessary test for a key column to be a substring of some text.

    ``grams`` comes from :func:`name_grams` over those texts. A key whose
    first, middle or last :data:`MIN_NAME_LENGTH` characters are not among
    them cannot occur in any text, so dropping it before building an
    automaton changes no match. Null keys give null.
    """
    key = pl.col(column)
    width = MIN_NAME_LENGTH
    middle = key.str.slice(key.str.len_chars() // 2 - width // 2, width)
    known = grams.implode()
    return key.str.slice(0, width).is_in(known) & middle.is_in(known) & key.str.slice(-width).is_in(known)


@dataclass(frozen=True)
class _TextBatch:
    joined: str  # the batch's texts joined by _JOINT, null texts as ""
    starts: np.ndarray  # code-point offset of each text in ``joined``
    lengths: np.ndarray  # code-point length of each text
    first_index: int  # index of the batch's first text among all texts


class JoinedTexts:
    """Texts joined into scan batches once, so several automatons can scan them without rejoining."""

    def __init__(self, texts: Sequence[str | None]) -> None:
        self.count = len(texts)
        self.batches: list[_TextBatch] = []
        for first_index in range(0, len(texts), _TEXT_BATCH):
            batch = [text or "" for text in texts[first_index : first_index + _TEXT_BATCH]]
            lengths = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
            starts = np.zeros(len(batch), dtype=np.int64)
            np.cumsum(lengths[:-1] + len(_JOINT), out=starts[1:])
            self.batches.append(_TextBatch(_JOINT.join(batch), starts, lengths, first_index))


def find_containments(
    patterns: Sequence[str], texts: Sequence[str | None] | JoinedTexts
) -> tuple[np.ndarray, np.ndarray]:
    """Find every (pattern, text) pair where the text contains the pattern.

    ``patterns`` and ``texts`` must already be keys (see :func:`name_key_expr`);
    patterns must be distinct and non-empty, and a null text matches nothing.
    Returns two int64 arrays of equal length, pattern indices and text
    indices, sorted by text index then pattern index, each pair once even
    when the pattern occurs several times in the text.
    """
    joined = texts if isinstance(texts, JoinedTexts) else JoinedTexts(texts)
    if not patterns or not joined.count:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    automaton = _build_automaton(patterns)
    pattern_lengths = np.fromiter(map(len, patterns), dtype=np.int64, count=len(patterns))

    pattern_parts: list[np.ndarray] = []
    text_parts: list[np.ndarray] = []
    for batch in joined.batches:
        pattern_index, text_index = _scan_batch(automaton, pattern_lengths, batch)
        pattern_parts.append(pattern_index)
        text_parts.append(text_index + batch.first_index)

    pattern_index = np.concatenate(pattern_parts)
    text_index = np.concatenate(text_parts)
    # One pair per (text, pattern): a pattern can occur several times in a text.
    pair_key = np.unique(text_index * len(patterns) + pattern_index)
    logger.debug("name matching: %d patterns, %d texts, %d pairs", len(patterns), joined.count, pair_key.size)
    return pair_key % len(patterns), pair_key // len(patterns)


def first_containing_text(patterns: Sequence[str], texts: Sequence[str | None] | JoinedTexts) -> np.ndarray:
    """Return, per pattern, the index of the first text that contains it, or -1 when none does."""
    first = np.full(len(patterns), -1, dtype=np.int64)
    pattern_index, text_index = find_containments(patterns, texts)
    if pattern_index.size:
        # Pairs are sorted by text index, so the first pair of each pattern
        # carries its smallest text index.
        unique_patterns, first_position = np.unique(pattern_index, return_index=True)
        first[unique_patterns] = text_index[first_position]
    return first


def _build_automaton(patterns: Sequence[str]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for index, pattern in enumerate(patterns):
        if not pattern:
            raise ValueError(f"empty name pattern at index {index}; filter null and short keys first")
        if not automaton.add_word(pattern, index):
            raise ValueError(f"duplicate name pattern {pattern!r} at index {index}; pass distinct keys")
    automaton.make_automaton()
    return automaton


def _scan_batch(
    automaton: ahocorasick.Automaton, pattern_lengths: np.ndarray, batch: _TextBatch
) -> tuple[np.ndarray, np.ndarray]:
    """Scan one joined batch and map each match back to the text it lies in, dropping matches across joints."""
    # automaton.iter yields (end position, pattern index) with inclusive end
    # positions in code points; flattening avoids one tuple per match in memory.
    flat = np.fromiter(itertools.chain.from_iterable(automaton.iter(batch.joined)), dtype=np.int64)
    match_end = flat[0::2]
    pattern_index = flat[1::2]
    text_index = np.searchsorted(batch.starts, match_end, side="right") - 1
    match_start = match_end - pattern_lengths[pattern_index] + 1
    text_start = batch.starts[text_index]
    inside = (match_start >= text_start) & (match_end < text_start + batch.lengths[text_index])
    return pattern_index[inside], text_index[inside]
