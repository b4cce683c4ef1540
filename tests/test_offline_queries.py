from embedloop.pairs.offline import STRATEGIES, pseudo_queries

CHUNK = """Artifact store

The artifact store keeps every artifact that a step produces. An artifact store is a \
storage backend for pipeline outputs such as datasets and models.

Remove old artifacts to save space on the bucket regularly.

```python
store = Client().active_stack.artifact_store
store.cleanup(older_than_days=30)
```"""


def generate(n: int = 10, strategies=STRATEGIES) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for q in pseudo_queries(CHUNK, "Stacks > Artifact store", "Stacks guide", n, strategies):
        out.setdefault(q.strategy, []).append(q.query)
    return out


def test_each_strategy_produces_its_kind_of_query() -> None:
    queries = generate()
    assert queries["heading"][:2] == ["Artifact store", "Stacks Artifact store"]
    assert queries["definition"] == ["What is artifact store?"]
    assert queries["question"] == ["Artifact store explained"]
    assert queries["inverse_cloze"][0] == (
        "Remove old artifacts to save space on the bucket regularly"
    )
    assert queries["identifier"] == ["Stacks Client", "Stacks store cleanup"]


def test_summary_sentences_become_how_to_questions() -> None:
    chunk = "Rotate keys\n\nCreates a new API key and revokes the old one after a grace period."
    (question,) = [q.query for q in pseudo_queries(chunk, "Rotate keys", "", 5, ["question"])][:1]
    assert question == "How do I create a new API key and revokes the old one after a grace period?"


def test_passages_hide_the_words_that_became_the_query() -> None:
    for q in pseudo_queries(CHUNK, "Stacks > Artifact store", "", 10, STRATEGIES):
        if q.strategy == "inverse_cloze":
            assert q.query not in q.passage and len(q.passage) < len(CHUNK)
        if q.strategy == "heading":
            assert not q.passage.startswith("Artifact store")


def test_strategies_interleave_and_respect_n_and_selection() -> None:
    first = [
        q.strategy for q in pseudo_queries(CHUNK, "Stacks > Artifact store", "", 3, STRATEGIES)
    ]
    assert len(first) == 3 and len(set(first)) == 3
    only = generate(10, ["identifier"])
    assert set(only) == {"identifier"}


def test_deterministic_and_distinct() -> None:
    a = pseudo_queries(CHUNK, "Stacks > Artifact store", "", 8, STRATEGIES)
    b = pseudo_queries(CHUNK, "Stacks > Artifact store", "", 8, STRATEGIES)
    assert a == b
    normalized = [" ".join(q.query.lower().split()) for q in a]
    assert len(set(normalized)) == len(normalized)


def test_chunk_without_structure_yields_few_or_none() -> None:
    assert pseudo_queries("ok", "", "", 3, STRATEGIES) == []
