"""Evaluation sets: queries, every chunk that answers each one, and where each query came from.

One chunk per query undercounts: a section split into three chunks has three equally good
answers, and a chunk that starts with the tail of its neighbour (chunk overlap) holds part
of the answer too. So every set expands each answering chunk to its whole section (same
document, same ``heading_path``) plus the adjacent chunks whose text overlaps it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from embedloop.chunking.sections import HEADING_SEPARATOR
from embedloop.warehouse import EVALUATION_QUERIES

SET_NAMES = ("synthetic", "human", "questions", "searches")
# Questions people asked or wrote: together, once large enough, the gate's primary set.
REAL_SETS = ("questions", "human", "searches")
PROVENANCE_COLUMNS = [c for c in EVALUATION_QUERIES.columns if c != "created_at"]
# A chunk overlaps its predecessor when its first OVERLAP_WORDS words occur among the
# predecessor's last OVERLAP_TAIL_WORDS words (the chunker's overlap_tokens lead-in).
OVERLAP_WORDS = 6
OVERLAP_TAIL_WORDS = 64

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, eq=False)
class EvalSet:
    """One evaluation set: query_id -> text, query_id -> every relevant chunk_id, and one
    provenance row per query (the columns of ``evaluation_queries`` but ``created_at``)."""

    name: str
    queries: dict[str, str]
    relevant: dict[str, set[str]]
    provenance: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=PROVENANCE_COLUMNS)
    )
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.queries)

    def fingerprint(self) -> str:
        """Hash of the sorted query ids, texts and relevant ids: the test-set hash."""
        digest = hashlib.sha256(self.name.encode())
        for qid in sorted(self.queries):
            relevant = ",".join(sorted(self.relevant.get(qid, ())))
            digest.update(f"\n{qid}\t{self.queries[qid]}\t{relevant}".encode())
        return digest.hexdigest()


def empty_set(name: str) -> EvalSet:
    """A set with no queries (a source of questions that has none yet)."""
    return EvalSet(name, {}, {}, pd.DataFrame(columns=PROVENANCE_COLUMNS))


def query_id(prefix: str, text: str) -> str:
    """A stable id for a query: ``prefix`` and a hash of its text."""
    return prefix + hashlib.sha1(text.encode()).hexdigest()[:16]


class ChunkIndex:
    """``document_chunks`` indexed by chunk, by section and by position in a document."""

    def __init__(self, chunks: pd.DataFrame) -> None:
        self.frame = chunks.reset_index(drop=True)
        self.text: dict[str, str] = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
        self.doc: dict[str, str] = dict(zip(chunks["chunk_id"], chunks["doc_id"], strict=True))
        self.heading: dict[str, str] = dict(
            zip(chunks["chunk_id"], chunks["heading_path"].fillna(""), strict=True)
        )
        self.position: dict[str, int] = {
            c: int(p) for c, p in zip(chunks["chunk_id"], chunks["position"], strict=True)
        }
        self.sections: dict[tuple[str, str], list[str]] = {}
        self.by_doc: dict[str, dict[int, str]] = {}
        for cid in self.frame.sort_values(["doc_id", "position"])["chunk_id"]:
            doc = self.doc[cid]
            self.sections.setdefault((doc, self.heading[cid]), []).append(cid)
            self.by_doc.setdefault(doc, {})[self.position[cid]] = cid

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self.text

    def doc_chunks(self, doc_id: str) -> list[str]:
        return [self.by_doc[doc_id][p] for p in sorted(self.by_doc.get(doc_id, {}))]

    def section_of(self, chunk_id: str) -> list[str]:
        return self.sections[(self.doc[chunk_id], self.heading[chunk_id])]

    def overlap(self, a: str, b: str) -> bool:
        """Whether adjacent chunks ``a`` and ``b`` share the chunker's overlap text."""
        first, second = sorted((a, b), key=lambda c: self.position[c])
        return overlaps(self.text[first], self.text[second], self.heading[second])

    def neighbours(self, chunk_id: str) -> list[str]:
        doc, pos = self.doc[chunk_id], self.position[chunk_id]
        chunks = self.by_doc.get(doc, {})
        return [chunks[p] for p in (pos - 1, pos + 1) if p in chunks]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _body(text: str, heading_path: str) -> str:
    """Chunk text without the heading line the chunker puts first."""
    first, _, rest = text.partition("\n")
    title = heading_path.rsplit(HEADING_SEPARATOR, 1)[-1].strip()
    return rest if title and first.strip() == title else text


def overlaps(earlier: str, later: str, later_heading: str = "") -> bool:
    """Whether ``later`` begins with text from the end of ``earlier`` (the chunker's overlap).

    The later chunk's first ``OVERLAP_WORDS`` words (after its heading line) must occur in
    the tail of the earlier one; a sentence that both merely contain does not count.
    """
    head = _words(_body(later, later_heading))[:OVERLAP_WORDS]
    tail = _words(earlier)[-OVERLAP_TAIL_WORDS:]
    n = len(head)
    return n == OVERLAP_WORDS and any(tail[i : i + n] == head for i in range(len(tail) - n + 1))


def expand_relevance(chunk_ids: Iterable[str], index: ChunkIndex) -> set[str]:
    """Every chunk of each answering chunk's section, plus adjacent chunks overlapping it.

    Chunks no longer in the corpus are dropped (a caller decides what an empty result means).
    """
    relevant: set[str] = set()
    for cid in chunk_ids:
        if cid not in index:
            continue
        relevant.update(index.section_of(cid))
        relevant.update(n for n in index.neighbours(cid) if index.overlap(cid, n))
    return relevant


def build_set(
    name: str, rows: Iterable[Mapping[str, object]], notes: Iterable[str] = ()
) -> EvalSet:
    """An EvalSet from provenance rows (relevant_chunk_ids already expanded)."""
    frame = pd.DataFrame(list(rows), columns=PROVENANCE_COLUMNS).assign(set_name=name)
    frame = frame.sort_values("query_id", kind="stable").reset_index(drop=True)
    queries = dict(zip(frame["query_id"], frame["query"], strict=True))
    relevant = {
        qid: set(ids)
        for qid, ids in zip(frame["query_id"], frame["relevant_chunk_ids"], strict=True)
    }
    if len(queries) != len(frame):
        raise ValueError(f"evaluation set {name}: duplicate query ids")
    return EvalSet(name, queries, relevant, frame, tuple(notes))


def sets_to_table(sets: Mapping[str, EvalSet], now: datetime) -> pd.DataFrame:
    """The rows of ``evaluation_queries`` for these sets."""
    frames = [s.provenance.assign(set_name=s.name) for s in sets.values() if len(s)]
    if not frames:
        return EVALUATION_QUERIES.empty()
    frame = pd.concat(frames, ignore_index=True)
    frame["relevant_chunk_ids"] = frame["relevant_chunk_ids"].map(sorted)
    return frame.assign(created_at=now)[EVALUATION_QUERIES.columns]


def sets_from_table(frame: pd.DataFrame) -> dict[str, EvalSet]:
    """Every set named in SET_NAMES, read back from ``evaluation_queries`` (empty if absent)."""
    sets = {}
    for name in SET_NAMES:
        rows = frame[frame["set_name"] == name]
        records = rows[PROVENANCE_COLUMNS].to_dict("records")
        for row in records:
            row["relevant_chunk_ids"] = [str(c) for c in row["relevant_chunk_ids"]]
        sets[name] = build_set(name, records) if records else empty_set(name)
    return sets


def set_hashes(sets: Mapping[str, EvalSet]) -> dict[str, str]:
    """One hash per set and one over all of them (what ZenML metadata records)."""
    hashes = {name: s.fingerprint() for name, s in sorted(sets.items())}
    combined = hashlib.sha256("\n".join(f"{k}:{v}" for k, v in hashes.items()).encode())
    return {**hashes, "all": combined.hexdigest()}


def leaked_documents(training_docs: Iterable[str], sets: Mapping[str, EvalSet]) -> list[str]:
    """Test-split documents (of any set) that a model's training data also used."""
    test_docs = {
        doc
        for s in sets.values()
        for doc, split in zip(s.provenance["doc_id"], s.provenance["split"], strict=True)
        if split == "test"
    }
    return sorted(test_docs & set(training_docs))
