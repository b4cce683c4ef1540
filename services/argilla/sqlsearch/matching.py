"""Filter, sort, text and vector matching over record documents, the way Argilla's
Elasticsearch engine answers them, in plain Python.

No argilla_server import: the engine translates the server's filter objects into the
dataclasses below, and the unit tests exercise this module on its own. A document is the
dict the Elasticsearch engine would index for a record:

    {"id", "external_id", "status", "inserted_at", "updated_at",
     "fields": {name: value}, "metadata": {name: value},
     "suggestions": {question: {"value", "score", "agent", "type"}},
     "responses": [{"user_id", "status", "values": {question: value}}],
     "vector": [float, ...] (only for similarity search)}
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Kind = Literal["record", "metadata", "suggestion", "response"]
PENDING = "pending"  # response status filter value: the record has no response (by the user)


@dataclass(frozen=True)
class Path:
    """What a filter or sort reads: a record property, a metadata property, a suggestion's
    property for a question, or a response (a question's value, or the status)."""

    kind: Kind
    name: str | None = None  # record property / metadata property / question
    property: str | None = None  # suggestion property; "status" for responses
    user_id: str | None = None  # responses only: just this user's responses


@dataclass(frozen=True)
class Terms:
    path: Path
    values: tuple[str, ...]


class InvalidFilter(ValueError):
    """A filter that cannot apply to any value: the server answers a ValueError from the
    engine with 422 Unprocessable Entity, as it does for its own query checks."""


@dataclass(frozen=True)
class Range:
    """Inclusive bounds. The API accepts strings as bounds (for dates); each is read the way
    Elasticsearch reads it, as a number or an ISO date, and anything else is refused."""

    path: Path
    ge: float | None = None
    le: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ge", range_bound(self.ge, self.path))
        object.__setattr__(self, "le", range_bound(self.le, self.path))


@dataclass(frozen=True)
class All:
    filters: tuple[Filter, ...]


Filter = Terms | Range | All


@dataclass(frozen=True)
class SortKey:
    path: Path
    descending: bool = False


def needs(filter: Filter | None, sort: Sequence[SortKey] = ()) -> set[Kind]:
    """Which parts of a record the documents must carry to answer this query."""
    kinds: set[Kind] = {k.path.kind for k in sort}
    stack = [filter] if filter else []
    while stack:
        f = stack.pop()
        if isinstance(f, All):
            stack.extend(f.filters)
        else:
            kinds.add(f.path.kind)
    return kinds


# --- reading values ---------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _responses(doc: dict[str, Any], user_id: str | None) -> list[dict[str, Any]]:
    return [
        r for r in doc.get("responses") or [] if user_id is None or str(r["user_id"]) == user_id
    ]


def values_at(doc: dict[str, Any], path: Path) -> list[Any]:
    """Every value the path reads in a document (lists flattened, missing values dropped)."""
    if path.kind == "record":
        return _as_list(doc.get(path.name or ""))
    if path.kind == "metadata":
        return _as_list((doc.get("metadata") or {}).get(path.name or ""))
    if path.kind == "suggestion":
        suggestion = (doc.get("suggestions") or {}).get(path.name or "")
        return _as_list(suggestion.get(path.property or "value")) if suggestion else []
    responses = _responses(doc, path.user_id)
    if path.name is None:  # the response status
        return [r["status"] for r in responses]
    return [v for r in responses for v in _as_list((r.get("values") or {}).get(path.name))]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):  # Elasticsearch compares dates as epoch milliseconds
        return value.timestamp() * 1000
    return None


def range_bound(value: Any, path: Path) -> float | None:
    """A range bound as the number values are compared with: numbers as they are, numeric
    strings parsed, dates and ISO date strings as epoch milliseconds (see ``_number``)."""
    if value is None:
        return None
    number = _number(value)
    if number is None and isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            with contextlib.suppress(ValueError):
                number = _number(datetime.fromisoformat(text))
    if number is None or not math.isfinite(number):
        where = ".".join(p for p in (path.kind, path.name, path.property) if p)
        raise InvalidFilter(
            f"range filter on {where}: bound {value!r} is neither a number nor a date"
        )
    return number


# --- filters ----------------------------------------------------------------------------


def matches(doc: dict[str, Any], filter: Filter) -> bool:
    if isinstance(filter, All):
        return all(matches(doc, f) for f in filter.filters)
    if isinstance(filter, Range):
        numbers = [n for n in map(_number, values_at(doc, filter.path)) if n is not None]
        return any(
            (filter.ge is None or n >= filter.ge) and (filter.le is None or n <= filter.le)
            for n in numbers
        )
    path = filter.path
    if path.kind == "response" and path.name is None:
        return _status_matches(doc, path.user_id, set(filter.values))
    wanted = set(filter.values)
    return any(str(v) in wanted for v in values_at(doc, path))


def _status_matches(doc: dict[str, Any], user_id: str | None, statuses: set[str]) -> bool:
    responses = _responses(doc, user_id)
    if PENDING in statuses and not responses:
        return True
    return any(r["status"] in statuses for r in responses)


# --- text -------------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+", re.UNICODE)
_QUERY_PART = re.compile(r'(-?)"([^"]*)"|(\S+)')


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _field_text(doc: dict[str, Any], field: str | None) -> str:
    fields = doc.get("fields") or {}
    values = [fields.get(field)] if field else list(fields.values())
    return "\n".join(_flatten_text(v) for v in values if v is not None)


def _flatten_text(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(_flatten_text(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_flatten_text(v) for v in value)
    return str(value)


def text_score(doc: dict[str, Any], query: str, field: str | None = None) -> float | None:
    """Elasticsearch ``simple_query_string`` with the AND operator, in small: every term
    must occur (``-term`` must not), ``"a phrase"`` matches in order and ``pre*`` matches a
    prefix. None when the document does not match; otherwise a score that grows with term
    frequency and shrinks with field length."""
    length, counts, joined = _analyzed(doc, field)
    score = 0.0
    for negated, phrase, word in _QUERY_PART.findall(query):
        if phrase:
            hits = joined.count(" " + " ".join(_tokens(phrase)) + " ") if _tokens(phrase) else 0
        else:
            negated = "-" if word.startswith("-") and len(word) > 1 else ""
            term = word[1:] if negated else word
            if term.endswith("*") and _tokens(term):
                prefix = _tokens(term)[0]
                hits = sum(c for t, c in counts.items() if t.startswith(prefix))
            else:
                parts = _tokens(term)
                if not parts:
                    continue
                hits = min(counts[p] for p in parts)
        if negated:
            if hits:
                return None
            continue
        if not hits:
            return None
        score += 1 + math.log(hits)
    return score / math.sqrt(max(length, 1)) if score else 1.0


def _analyzed(doc: dict[str, Any], field: str | None) -> tuple[int, Counter[str], str]:
    """Token count, term counts and the space-joined tokens of a field (or all fields).
    Kept on the document: the engine reuses documents while the dataset is unchanged."""
    memo = doc.setdefault("_analyzed", {})
    if field not in memo:
        tokens = _tokens(_field_text(doc, field))
        memo[field] = (len(tokens), Counter(tokens), " " + " ".join(tokens) + " ")
    return memo[field]


# --- ordering ---------------------------------------------------------------------------


def _sort_value(doc: dict[str, Any], path: Path) -> Any:
    values = values_at(doc, path)
    if not values:
        return None
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        return sum(numbers) / len(numbers)  # type: ignore[arg-type]  # ES mode "avg"
    return min(str(v) for v in values)


def sort_documents(docs: list[dict[str, Any]], keys: Sequence[SortKey]) -> list[dict[str, Any]]:
    """Sorted by each key in turn; documents without a value go last in either direction,
    as in Elasticsearch."""
    ordered = list(docs)
    # Stable sorts from the least significant key up give the multi-key order.
    for key in reversed(keys):
        values = [_sort_value(d, key.path) for d in ordered]
        present = [(v, d) for v, d in zip(values, ordered, strict=True) if v is not None]
        missing = [d for v, d in zip(values, ordered, strict=True) if v is None]
        present.sort(key=lambda pair: _comparable(pair[0]), reverse=key.descending)
        ordered = [d for _, d in present] + missing
    return ordered


def _comparable(value: Any) -> tuple[int, Any]:
    # Numbers before strings, should one property mix them.
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def user_shuffle_key(user_id: str, record_id: str) -> float:
    """A per-user, stable pseudo-random order: Elasticsearch's ``random_score`` seeded with
    the user's id, so annotators sharing a dataset start on different records."""
    digest = hashlib.sha1(f"{user_id}:{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Hit:
    record_id: str
    score: float


def search(
    docs: Iterable[dict[str, Any]],
    filter: Filter | None = None,
    sort: Sequence[SortKey] = (),
    query: str | None = None,
    field: str | None = None,
    user_id: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[Hit], int]:
    """One page of hits and the total number of matches."""
    scored: list[tuple[dict[str, Any], float]] = []
    for doc in docs:
        if filter is not None and not matches(doc, filter):
            continue
        score = 1.0 if not query else text_score(doc, query, field)
        if score is None:
            continue
        if user_id is not None:
            score *= user_shuffle_key(user_id, str(doc["id"]))
        scored.append((doc, score))
    if sort:
        by_id = {id(doc): score for doc, score in scored}
        ordered = [(d, by_id[id(d)]) for d in sort_documents([d for d, _ in scored], sort)]
    else:
        # Stable: equal scores keep insertion order, as an index would return them.
        ordered = sorted(scored, key=lambda pair: -pair[1])
    page = ordered[offset : offset + limit]
    return [Hit(str(d["id"]), s) for d, s in page], len(ordered)


def cosine_scores(vector: Sequence[float], candidates: Sequence[Sequence[float]]) -> list[float]:
    """Elasticsearch's ``cosine`` similarity score: (1 + cos) / 2, in [0, 1]."""
    import numpy as np

    if not candidates:
        return []
    matrix = np.asarray(candidates, dtype=np.float32)
    query = np.asarray(vector, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
    cos = matrix @ query / np.where(norms == 0, 1.0, norms)
    return ((1.0 + cos) / 2.0).tolist()


def similar(
    docs: Iterable[dict[str, Any]],
    vector: Sequence[float],
    k: int,
    filter: Filter | None = None,
    query: str | None = None,
    field: str | None = None,
    exclude_id: str | None = None,
    least_similar: bool = False,
    threshold: float | None = None,
) -> list[Hit]:
    """The k records whose vector is nearest (or farthest) from ``vector``."""
    pool = [
        d
        for d in docs
        if d.get("vector") is not None
        and str(d["id"]) != exclude_id
        and (filter is None or matches(d, filter))
        and (not query or text_score(d, query, field) is not None)
    ]
    target = [-x for x in vector] if least_similar else list(vector)
    scores = cosine_scores(target, [d["vector"] for d in pool])
    ranked = sorted(zip(pool, scores, strict=True), key=lambda pair: -pair[1])[:k]
    return [Hit(str(d["id"]), s) for d, s in ranked if threshold is None or s >= threshold]


# --- aggregations -----------------------------------------------------------------------


def term_counts(docs: Iterable[dict[str, Any]], path: Path) -> tuple[int, list[tuple[str, int]]]:
    """(number of values, [(term, count)] most frequent first)."""
    counts: Counter[str] = Counter()
    for doc in docs:
        counts.update(str(v) for v in values_at(doc, path))
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return sum(counts.values()), ordered


def numeric_range(docs: Iterable[dict[str, Any]], path: Path) -> tuple[Any, Any]:
    values = [v for doc in docs for v in values_at(doc, path) if _number(v) is not None]
    return (min(values), max(values)) if values else (None, None)
