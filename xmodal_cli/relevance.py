"""`relevance`: a 0–1 probability that a result is what was asked for, comparable across types.

The calibrated score z of a hit (store/calibration.py: how many standard deviations its
cosine lies above this query's mean over the items of its type) still grows with how many
items that type holds: among N items that have nothing to do with the query, the best one
scores about √(2 ln N) by chance alone (the expected maximum of N standard normals). So the
evidence a dense hit carries is its surprise, z − √(2 ln N): above 0 it beats what chance
gives the best of its kind, below 0 it is the closest of a lot that does not match.

A lexical match (lexical.py: every content word of the query in one row of the file's
words) is a second, independent piece of evidence, the stronger the fewer files share it:
its evidence is −ln(files that match), whatever the size of the collection (an invoice
number in one file of ten or of a million singles it out alike; a word in fifty files
says little about any one of them).

Each piece becomes a probability by a logistic fit on labelled queries (Platt scaling);
the two are combined as independent evidence (noisy-or). The constants below come from
bench/relevance_fit.py on the tuning half of its sets; the figures it reports are on the
other half and on sets that took no part in the fit.
"""

from __future__ import annotations

import math

# Logistic fits: P(relevant | evidence) = 1 / (1 + exp(-(slope * evidence + offset))).
# Dense: 1,280 hits of 32 tuning queries (32 relevant); even odds at a surprise of 2.3.
DENSE_SLOPE = 1.467
DENSE_OFFSET = -3.366
# Words: 668 matches (111 relevant) of the tuning queries and of pydoc's exact terms,
# paraphrases and topic names: 0.90 for a file that alone matches, 0.71 for one of two,
# 0.12 for one of ten.
WORDS_SLOPE = 1.819
WORDS_OFFSET = 2.179
# Files of another type than the best hit's are shown only from this relevance on: the
# lowest of 0.5, 0.2, 0.1, 0.05, 0.033 (a surprise of 0), 0.02, 0.01 and 0.001 that shows as
# many expected files in the top 10 as the previous ranking did, on the tuning half (higher
# floors hid the right note or memo whenever a file of another type came first).
OTHER_TYPES_FROM = 0.01


def surprise(z: float, items: int) -> float:
    """How far `z` lies above the best score chance gives among `items` unrelated ones."""
    return z - math.sqrt(2.0 * math.log(max(items, 2)))


def dense(z: float, items: int) -> float:
    """Relevance of a hit with calibrated score `z` among `items` of its type."""
    return _logistic(DENSE_SLOPE * surprise(z, items) + DENSE_OFFSET)


def words(files: int) -> float:
    """Relevance that a lexical match gives on its own, when `files` files match alike."""
    return _logistic(WORDS_OFFSET - WORDS_SLOPE * math.log(max(files, 1)))


def combined(by_meaning: float, by_words: float) -> float:
    """Both pieces of evidence together, taken as independent (noisy-or)."""
    return by_meaning + by_words - by_meaning * by_words  # 1 - (1 - a)(1 - b), exactly


def _logistic(x: float) -> float:
    if x < -60.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-min(x, 60.0)))
