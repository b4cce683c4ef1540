"""The offline generator: its strategies, cleaned headings, no templates on non-terms, and
inverse cloze queries that never occur in their positive (even across wrapped lines)."""

import pytest

from embedloop.pairs.offline import STRATEGIES, pseudo_queries
from embedloop.pairs.terms import clean_heading, contains_passage, is_term

CHUNK = """Artifact store

The artifact store keeps every artifact that a step produces. An artifact store is a \
storage backend for pipeline outputs such as datasets and models.

Remove old artifacts to save space on the bucket regularly.

```python
store = Client().active_stack.artifact_store
store.cleanup(older_than_days=30)
```"""

NEIGHBOUR = """Artifact store

Artifacts are versioned: each run writes a new version instead of overwriting
the old one, so that earlier pipeline runs stay reproducible."""


def generate(n: int = 10, strategies=STRATEGIES, neighbours=(NEIGHBOUR,)) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for q in pseudo_queries(
        CHUNK, "Stacks guide > Stacks > Artifact store", "Stacks guide", n, strategies, neighbours
    ):
        out.setdefault(q.strategy, []).append(q.query)
    return out


def test_each_strategy_produces_its_kind_of_query() -> None:
    queries = generate()
    # The leaf heading alone copies the chunk's first line, so the nearest outer heading that
    # adds a word the chunk lacks comes with it ("Stacks" does not: the code says "stack").
    assert queries["heading"] == ["Stacks guide Artifact store"]
    assert queries["question"] == ["What is Artifact store in Stacks guide?"]
    assert queries["inverse_cloze"] == [
        "Artifacts are versioned: each run writes a new version instead of overwriting the old"
        " one, so that earlier pipeline runs stay reproducible"
    ]
    assert queries["identifier"][:2] == ["Stacks guide Client", "Stacks guide store cleanup"]
    only = generate(strategies=["definition"])
    assert only["definition"] == ["What is artifact store in Stacks guide?"]


def test_summary_sentences_become_how_to_questions() -> None:
    chunk = "Rotate keys\n\nCreates a new API key and revokes the old one after a grace period."
    queries = pseudo_queries(chunk, "Auth > Rotate keys", "", 5, ["question"])
    assert queries[0].query == (
        "How do I create a new API key and revokes the old one after a grace period in Auth?"
    )


def test_summary_sentence_about_a_pronoun_is_no_question() -> None:
    chunk = "Client\n\nCreate one per process and reuse it."
    assert not any(
        q.query.startswith("How do I create")
        for q in pseudo_queries(chunk, "API > Client", "", 5, ["question"])
    )


@pytest.mark.parametrize(
    ("heading", "cleaned"),
    [
        ("5.8.1. `__main__.__spec__`", "__main__.__spec__"),
        ("2.4.4. Numeric literals", "Numeric literals"),
        ("## 3.1 Installing ¶", "Installing"),
        ("Chapter 2. Debian package management", "Debian package management"),
        ("A.1. Appendix entry", "Appendix entry"),
        ("class deque", "deque"),
        ("method add_argument()", "add_argument"),
        ("function open(file, mode='r')", "open"),
        ("**Bold** [linked](https://x.y/z) title:", "Bold linked title"),
        ("Module contents", "Module contents"),
        ("Data model", "Data model"),
        ("404 errors", "404 errors"),
        ("How do I reset my widget?", "How do I reset my widget?"),
    ],
)
def test_headings_are_cleaned(heading: str, cleaned: str) -> None:
    assert clean_heading(heading) == cleaned


def test_numbered_headings_give_queries_without_numbers() -> None:
    chunk = "`__main__.__spec__`\n\nThe module spec of the main module, set by the import system."
    path = "5. The import system > 5.8. Special considerations > 5.8.1. `__main__.__spec__`"
    queries = [q.query for q in pseudo_queries(chunk, path, "The import system", 6, STRATEGIES)]
    assert queries
    assert not any(ch.isdigit() for q in queries for ch in q.replace("5 8 1", "X"))
    assert "Special considerations __main__ __spec__" in queries


# The queries annotators saw in Argilla, and sentences of the kind that produced them.
ANNOTATOR_JUNK = {
    "If there": "If there is a conflict, the last value wins over the others.",
    "This module": "This module is a thin wrapper around the C library.",
    "returned object": "The returned object is a list of tuples with the results.",
    "other arguments": "Other arguments are the same as for the open function.",
    "Return whether this": "Return whether this is a directory on the local disk.",
    "None": "None is the default for every optional argument here.",
    "Caller": "Caller is responsible for closing the file afterwards.",
    "default": "default is the value used when nothing else is given.",
}


@pytest.mark.parametrize("term", sorted(ANNOTATOR_JUNK))
def test_annotators_junk_terms_are_not_terms(term: str) -> None:
    assert not is_term(term)


def test_no_template_is_applied_to_junk_terms() -> None:
    chunk = "Notes\n\n" + " ".join(ANNOTATOR_JUNK.values())
    queries = [q.query for q in pseudo_queries(chunk, "Guide > Notes", "Guide", 20, STRATEGIES)]
    for term in ANNOTATOR_JUNK:
        assert not any(f"What is {term}" in q for q in queries), (term, queries)
    assert not any(q.startswith("What is") for q in queries)


@pytest.mark.parametrize("term", ["artifact store", "deque", "WidgetClient", "Connection.iterdump"])
def test_real_terms_stay_terms(term: str) -> None:
    assert is_term(term)


@pytest.mark.parametrize("label", ["Answer 1.1", "Example 3", "Step 2", "Appendix B", "Table 4.2"])
def test_numbered_labels_are_not_topics(label: str) -> None:
    """A FAQ answer under a neutral "Answer 1.1" heading got "How do I use Answer 1 1 in
    Definitions and overview?" (issue 20): a label says where, not what."""
    assert not is_term(label)
    chunk = f"{label}\n\nDebian is a free operating system maintained by volunteers."
    path = f"Definitions and overview > {label}"
    queries = [q.query for q in pseudo_queries(chunk, path, "FAQ", 10, STRATEGIES)]
    assert not any(label.split()[0] in q for q in queries), queries


def test_question_headings_are_kept_as_they_are() -> None:
    chunk = "How do I reset my widget?\n\nHold the power button for ten seconds."
    queries = pseudo_queries(chunk, "FAQ > 1.2. How do I reset my widget?", "FAQ", 5, STRATEGIES)
    texts = [q.query for q in queries]
    assert "How do I reset my widget?" in texts
    assert not any(t.startswith(("What is How", "How does How", "How do I use How")) for t in texts)
    assert not any(q.strategy == "heading" for q in queries)


def test_wrapped_sentences_match_whitespace_normalized() -> None:
    sentence = "Artifacts are versioned: each run writes a new version instead of overwriting"
    wrapped = (
        "Intro.\n\nArtifacts are versioned: each run\n"
        "writes a new version  instead of\noverwriting the rest."
    )
    assert contains_passage(wrapped, sentence)
    assert not contains_passage(wrapped, "each run writes an old version")


def test_inverse_cloze_never_takes_a_sentence_its_positive_contains() -> None:
    # The neighbour's sentence re-joined from wrapped lines also sits, wrapped differently, in
    # the overlap at the top of this chunk: it must not become this chunk's query.
    shared = "The orchestrator decides where each step runs and how many run at once."
    own = "Only the local orchestrator needs no configuration at all for a first run."
    neighbour = f"Orchestrator\n\n{own.replace(' for ', chr(10) + 'for ')}\n{shared}"
    chunk = (
        "Orchestrator\n\nThe orchestrator decides where each step\nruns and how many run at"
        " once. It schedules steps on a remote cluster with retries."
    )
    queries = pseudo_queries(chunk, "Guide > Orchestrator", "", 10, ["inverse_cloze"], [neighbour])
    assert [q.query for q in queries] == [own.rstrip(".")]
    for q in queries:
        assert not contains_passage(chunk, q.query)


def test_inverse_cloze_needs_a_neighbour() -> None:
    assert generate(strategies=["inverse_cloze"], neighbours=()) == {}


def test_strategies_interleave_and_respect_n_and_selection() -> None:
    first = [
        q.strategy
        for q in pseudo_queries(CHUNK, "Stacks > Artifact store", "", 3, STRATEGIES, [NEIGHBOUR])
    ]
    assert len(first) == 3 and len(set(first)) == 3
    only = generate(10, ["identifier"])
    assert set(only) == {"identifier"}


def test_deterministic_and_distinct() -> None:
    a = pseudo_queries(CHUNK, "Stacks > Artifact store", "", 8, STRATEGIES, [NEIGHBOUR])
    b = pseudo_queries(CHUNK, "Stacks > Artifact store", "", 8, STRATEGIES, [NEIGHBOUR])
    assert a == b
    normalized = [" ".join(q.query.lower().split()) for q in a]
    assert len(set(normalized)) == len(normalized)


def test_chunk_without_structure_yields_few_or_none() -> None:
    assert pseudo_queries("ok", "", "", 3, STRATEGIES) == []
