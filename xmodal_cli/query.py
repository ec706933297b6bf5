"""The query grammar: compound queries of weighted, signed terms, and how their vectors combine.

Plain text means what it says. The grammar applies only to quoted terms joined by a
free-standing `+` or `-` (in one string, or as separate shell words), and to a `W:` weight at
the start of such a term:

    "beach" + "sunset" - "people"        "2:snow" + "mountain hut"

so "C++", "state-of-the-art", "10:30 standup" and "John 3:16" stay plain queries. Anything
half in the grammar (quotes and a free-standing operator, but not every term quoted) is a
usage error with a hint, never a guess. `--like FILE` adds an example file as a positive term.

Terms are combined per space as a weighted sum of unit vectors, renormalised. The negative
part is capped at half the length of the positive part, so the combined query stays within
30 degrees of what the positive terms ask for: a negative term can push results down, never
turn the query into "anything but X" or cancel it to noise (which an unbounded difference
does when the negative is close to the positive).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal_cli.errors import UsageError
from xmodal_cli.models import Profile
from xmodal_cli.scan import modality_of

NEGATIVE_CAP = 0.5  # |negative part| <= this x |positive part|: at most asin(0.5) = 30 degrees
OPERATORS = ("+", "-")
_QUOTED = r'"([^"]*)"'
_COMPOUND = re.compile(rf"\s*{_QUOTED}(?:\s+[+-]\s+{_QUOTED})+\s*")
_TOKEN = re.compile(rf"{_QUOTED}|(?<!\S)([+-])(?!\S)")
# a lone operator, or one between quotes: '"a" - b', '"a"+"b"'
_HALF_COMPOUND = re.compile(r'(?<!\S)[+-](?!\S)|"\s*[+-]\s*"')
# "2:snow", "0.5: snow"; the text after the colon may start with a digit only after a space,
# because "10:30 standup" and "3:16" are times and verses, not weights
_WEIGHT = re.compile(r"(\d+(?:\.\d+)?|\.\d+):(\s*)(.*)", re.S)
_HINT = (
    'quote every term and put spaces around + and -: "beach" + "sunset" - "people"; '
    "or add --plain to search the text as it is"
)


@dataclass(frozen=True)
class Term:
    """Words or an example file, with a weight; negative weights push results away."""

    weight: float
    text: str | None = None
    path: str | None = None  # absolute, for --like FILE


@dataclass(frozen=True)
class Query:
    """What to look for: one or more terms (one plain text term for a plain query)."""

    terms: tuple[Term, ...]
    source: str = ""  # as the user wrote it, for batch headings and the `query` key

    @classmethod
    def of(cls, text: str) -> Query:
        """A plain text query, exactly as written."""
        return cls((Term(1.0, text=text),), text)

    @property
    def plain(self) -> bool:
        """One text term of weight 1: searched exactly as before the grammar existed."""
        return len(self.terms) == 1 and self.terms[0].text is not None

    @property
    def examples(self) -> list[str]:
        """The --like files."""
        return [t.path for t in self.terms if t.path is not None]


def parse_query(words: Sequence[str], *, likes: Sequence[Path] = (), plain: bool = False) -> Query:
    """The query in `words` (one string, or shell words split at `+`/`-`) plus --like files."""
    source = " ".join(words)
    lead = 1.0  # with --like, words may start with an operator: --like a.jpg - "grass"
    if likes and len(words) > 1 and words[0] in OPERATORS:
        lead, words = (-1.0 if words[0] == "-" else 1.0), words[1:]
    if not source.strip():
        terms = []
    elif plain or (len(words) == 1 and not _is_compound(words[0])):
        terms = [Term(1.0, text=" ".join(words))]
    elif len(words) == 1:
        terms = _terms(_split_string(words[0]))
    else:
        terms = _terms(_split_words(words))
    if terms:
        terms[0] = Term(lead * terms[0].weight, text=terms[0].text)
    examples = [Term(1.0, path=str(p.expanduser().absolute())) for p in likes]
    all_terms = (*terms, *examples)
    if not all_terms:
        raise UsageError("the query is empty", 'try: xmodal search "sunset over the sea"')
    like_text = " ".join(f"--like {p}" for p in likes)
    return Query(all_terms, " ".join(s for s in (source, like_text) if s))


def _is_compound(text: str) -> bool:
    """Whether one string uses the grammar; half of it (quotes and a lone operator) is an
    error, because either reading could be what was meant."""
    if _COMPOUND.fullmatch(text):
        return True
    if '"' in text and _HALF_COMPOUND.search(text):
        raise UsageError(f"cannot tell whether {text!r} is one query or several terms", _HINT)
    return False


def _split_string(text: str) -> list[str]:
    """'"a" + "b"' -> ['a', '+', 'b'] (called only on a full match of the grammar)."""
    return [op or quoted for quoted, op in _TOKEN.findall(text)]


def _split_words(words: Sequence[str]) -> list[str]:
    """Shell words: terms and lone operators must alternate, starting with a term."""
    if not set(words) & set(OPERATORS):
        shown = " ".join(words)
        raise UsageError(
            f"{len(words)} separate words: {shown!r}",
            f'quote the query: xmodal search "{shown}"; or join quoted terms with + and -',
        )
    expect_term = True
    for word in words:
        if (word in OPERATORS) == expect_term:
            shown = " ".join(words)
            if expect_term and word in OPERATORS:
                problem = f"{word!r} needs a term before and after it in {shown!r}"
            else:
                problem = f"two terms without + or - between them in {shown!r}"
            raise UsageError(problem, _HINT)
        expect_term = not expect_term
    if expect_term:
        raise UsageError(f"{words[-1]!r} at the end of the query needs a term after it", _HINT)
    return [w[1:-1] if len(w) > 1 and w[0] == w[-1] == '"' else w for w in words]


def _terms(parts: list[str]) -> list[Term]:
    """['a', '+', '2:b', '-', 'c'] -> weighted terms."""
    signs = [1.0] + [1.0 if op == "+" else -1.0 for op in parts[1::2]]
    return [_weighted(text, sign) for text, sign in zip(parts[::2], signs, strict=True)]


def _weighted(text: str, sign: float) -> Term:
    match = _WEIGHT.fullmatch(text.strip())
    if match is None:
        weight, words = 1.0, text.strip()
    elif not match.group(2) and match.group(3)[:1].isdigit():
        raise UsageError(
            f"cannot tell whether {text!r} has a weight",
            f'for a weight, put a space after the colon: "{match.group(1)}: {match.group(3)}"; '
            f'for these words as they are, give the weight first: "1: {text.strip()}"',
        )
    else:
        weight, words = float(match.group(1)), match.group(3).strip()
    if weight <= 0:
        raise UsageError(f"the weight of {text!r} must be above 0", 'use - for less: "a" - "b"')
    if not words:
        raise UsageError(f"the term {text!r} is empty", _HINT)
    return Term(sign * weight, text=words)


def combine(weighted: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
    """One unit query vector from weighted unit vectors (weights < 0 push away), with the
    negative part capped at NEGATIVE_CAP of the positive part."""
    if len(weighted) == 1 and weighted[0][0] > 0:
        return weighted[0][1]  # a plain query is searched with exactly its own vector
    total = sum(w for w, _ in weighted if w > 0)
    positive = sum((w / total) * v for w, v in weighted if w > 0)
    negative = sum((-w / total) * v for w, v in weighted if w < 0)
    assert isinstance(positive, np.ndarray)  # parse_query guarantees a positive term
    if isinstance(negative, np.ndarray):
        room = NEGATIVE_CAP * float(np.linalg.norm(positive))
        length = float(np.linalg.norm(negative))
        positive = positive - negative * min(1.0, room / max(length, 1e-12))
    return (positive / max(float(np.linalg.norm(positive)), 1e-12)).astype(np.float32)


def plan_spaces(
    query: Query,
    targets: Sequence[str],
    profile: Profile,
    examples: dict[str, dict[str, np.ndarray]],
) -> list[tuple[str, str]]:
    """The (type, space) pairs to search: where words meet each type (or, for examples
    alone, where `similar` would look), kept only where every positive term has a vector."""
    words = any(t.text is not None for t in query.terms)
    needed = [t.path for t in query.terms if t.path is not None and t.weight > 0]
    pairs = []
    for modality in targets:
        if words:
            candidates = list(profile.query_spaces(modality))
        else:  # like with like in its own space (appearance, sound); across types, in words
            candidates = [
                profile.like_spaces.get(modality, "")
                if modality_of(path) == modality
                else profile.text_space
                for path in needed
            ]
        for space in dict.fromkeys(candidates):
            if all(space in examples[path] for path in needed):
                pairs.append((modality, space))
    if not pairs:
        raise UsageError(
            f"{' and '.join(needed)} cannot be compared with {'/'.join(targets)} files "
            "in the same space as the rest of the query",
            "try another --type, or `xmodal similar FILE` for the file alone",
        )
    return pairs


def pair_vector(
    query: Query,
    space: str,
    words: dict[str, np.ndarray],
    examples: dict[str, dict[str, np.ndarray]],
) -> np.ndarray:
    """The combined query vector in `space`, from each term's (already adapted) vector."""
    weighted = [
        (t.weight, words[t.text] if t.text is not None else examples[t.path or ""][space])
        for t in query.terms
        if t.text is not None or space in examples[t.path or ""]
    ]
    return combine(weighted)


def parse_batch(text: str, *, likes: Sequence[Path] = (), plain: bool = False) -> list[Query]:
    """One query per non-blank line (the grammar included), all checked before any runs."""
    parsed = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed.append(parse_query([line.strip()], likes=likes, plain=plain))
        except UsageError as exc:
            raise UsageError(f"line {number}: {exc.message}", exc.hint) from None
    if not parsed:
        raise UsageError("no queries in the file", "write one query per line")
    return parsed
