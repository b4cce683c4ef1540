"""Question files (every answer-location form, every malformed-file error) and FAQ harvesting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from embedloop.config import Settings, SplitSettings
from embedloop.evaluation import QuestionFileError, load_question_file
from embedloop.evaluation.build import doc_split_lookup
from embedloop.evaluation.faq import harvest_faq, question_heading, without_question_headings
from embedloop.splits import split_of
from tests.helpers.evaluation import API, FAQ, GUIDE, chunks_frame, documents_frame


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, **kwargs):  # type: ignore[no-untyped-def]
    return load_question_file(path, chunks_frame(), documents_frame(), **kwargs)


CSV_FORMS = """id,question,document,section,answer
doc-anchor,where are step outputs kept?,guide/stacks.md#artifact-store,,
doc-id,how is a stack defined?,docs:guide/stacks.md#stacks,,
uri,what is a stack?,file:///srv/docs/guide/stacks.md,,
url,where does a step run?,https://docs.acme.io/guide/stacks/#orchestrator,,
git-url,how do I authenticate?,https://acme.github.io/product/api/client.html,,
section,where are artifacts stored?,,Artifact store,
nested,what runs a pod?,,Orchestrator > Kubernetes,
answer,I forgot my password,,,"use the reset   link on the login page"
combined,why so slow?,docs:faq.md,,the cache is cold
numbered-anchor,slow builds?,faq.md#21-why-is-my-build-slow,,
"""


def test_every_answer_location_form_resolves_to_its_section(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, "team.csv", CSV_FORMS), doc_split=lambda d: "test")
    relevant = {qid.split(":")[1]: ids for qid, ids in loaded.relevant.items()}
    # The whole section, and the overlapping first chunk of the next section.
    assert relevant["doc-anchor"] == {"g1", "g2", "g3"}
    assert relevant["doc-id"] == {
        "g0",
        "g1",
        "g2",
        "g3",
        "g4",
        "g5",
    }  # a section holds its subsections
    assert relevant["uri"] == {f"g{i}" for i in range(6)}  # a document alone: all of it
    assert relevant["url"] == {"g2", "g3", "g4"}  # published URL, anchor, overlap neighbour
    assert relevant["git-url"] == {"a0"}  # .html page of a git source's .md file
    assert relevant["section"] == {"g1", "g2", "g3"}
    assert relevant["nested"] == {"g4"}
    assert relevant["answer"] == {"f1"}  # whitespace and Markdown emphasis normalized
    assert relevant["combined"] == relevant["numbered-anchor"] == {"f2"}
    provenance = loaded.provenance.set_index("query_id")
    assert provenance.loc["team.csv:uri", "doc_id"] == GUIDE
    assert provenance.loc["team.csv:git-url", "doc_id"] == API
    assert set(provenance["source"]) == {"file:team.csv"} and set(provenance["split"]) == {"test"}
    assert loaded.queries["team.csv:answer"] == "I forgot my password"


def test_jsonl_uses_ids_or_line_numbers_and_keeps_a_given_source(tmp_path: Path) -> None:
    lines = [
        {"question": "how do I reset my password?", "answer": "Use the reset link"},
        {"question": "where do secrets live?", "section": "Secrets", "source": "tickets"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    loaded = load(write(tmp_path, "q.jsonl", text))
    assert loaded.relevant == {"q.jsonl:1": {"f1"}, "q.jsonl:2": {"g5"}}
    assert list(loaded.provenance["source"]) == ["file:q.jsonl", "tickets"]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.csv", "query,document\nhi,faq.md\n", "a.csv:1: missing column"),
        (
            "b.csv",
            "question,answer\nfine?,cache is cold\n  ,cache is cold\n",
            "b.csv:3: empty question",
        ),
        (
            "c.jsonl",
            '{"question": "ok?", "answer": "cache is cold"}\n{"question": "x",\n',
            "c.jsonl:2: bad JSON",
        ),
        ("d.jsonl", '{"answer": "cache is cold"}\n', "d.jsonl:1: missing column 'question'"),
        (
            "e.csv",
            "question,document\nwhat?,docs/nowhere.md\n",
            "e.csv:2: unknown document 'docs/nowhere.md'",
        ),
        (
            "f.csv",
            "question,answer\nwhat?,a passage that is nowhere\n",
            "f.csv:2: answer passage 'a passage that is nowhere' is in no chunk",
        ),
        (
            "g.csv",
            "question,document\nwhat?,faq.md#no-such-heading\n",
            "g.csv:2: anchor #no-such-heading matches no heading of docs:faq.md",
        ),
        ("h.csv", "question,section\nwhat?,Authentication\nwho?,\n", "h.csv:3: no answer location"),
        ("i.csv", "id,question,section\nx,a?,Contact\nx,b?,Contact\n", "duplicate id 'x'"),
    ],
)
def test_malformed_files_fail_naming_file_line_and_value(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(QuestionFileError) as failure:
        load(path)
    assert expected.replace(name, str(path)) in str(failure.value)


def test_every_bad_row_is_listed_and_skip_unmatched_reports_instead(tmp_path: Path) -> None:
    text = "question,document\nok?,faq.md#contact\nbad?,nowhere.md\nworse?,faq.md#nope\n"
    path = write(tmp_path, "mixed.csv", text)
    with pytest.raises(QuestionFileError, match="2 errors") as failure:
        load(path)
    assert ":3: unknown document" in str(failure.value) and ":4: anchor #nope" in str(failure.value)
    loaded = load(path, skip_unmatched=True)
    assert loaded.relevant == {"mixed.csv:2": {"f3"}}
    assert len(loaded.notes) == 2 and "nowhere.md" in loaded.notes[0]


def test_an_ambiguous_location_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "amb.csv", "question,answer\nwhich?,Use\n")  # in two documents
    with pytest.raises(QuestionFileError, match="matches 2 documents"):
        load(path)


def test_question_headings_are_recognized_without_their_numbering() -> None:
    assert question_heading("2.1 Why is my build slow?") == "Why is my build slow?"
    assert question_heading("Q: How do I log in?") == "How do I log in?"
    assert question_heading("Contact") is None and question_heading("Why?") is None


def test_faq_questions_are_harvested_only_from_test_split_documents() -> None:
    chunks = chunks_frame()
    harvested = harvest_faq(chunks, lambda doc: "test" if doc == FAQ else "train")
    assert sorted(harvested.queries.values()) == [
        "How do I reset my password?",
        "Why is my build slow?",
    ]
    assert sorted(map(sorted, harvested.relevant.values())) == [["f1"], ["f2"]]
    assert set(harvested.provenance["source"]) == {"harvested-faq"}
    assert set(harvested.provenance["split"]) == {"test"}
    assert len(harvest_faq(chunks, lambda doc: "train" if doc == FAQ else "test")) == 0
    asked = harvest_faq(chunks, lambda doc: "test", skip_questions=frozenset({"whyismybuildslow"}))
    assert list(asked.queries.values()) == ["How do I reset my password?"]


def test_answers_are_scored_without_the_question_they_begin_with() -> None:
    chunks = chunks_frame()
    scored = dict(zip(chunks["chunk_id"], without_question_headings(chunks)["text"], strict=True))
    assert scored["f1"] == "Use the **reset** link on the login page."
    assert scored["f2"] == "The cache is cold."
    original = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    # Other headings stay: only a question heading copies its query.
    assert scored["f3"] == original["f3"] and scored["g1"] == original["g1"]
    assert "How do I reset" in original["f1"]  # the input frame is left as it was


def test_a_test_source_is_held_out_whole_and_must_be_configured() -> None:
    splits = SplitSettings(test_sources=["faq"])
    docs = [f"faq:page{i}.html" for i in range(50)]
    assert {split_of(d, splits) for d in docs} == {"test"}
    # Other sources keep their seeded split, the same as without the key.
    others = [f"manual:page{i}.html" for i in range(200)]
    assert [split_of(d, splits) for d in others] == [split_of(d, SplitSettings()) for d in others]
    assert {split_of(d, splits) for d in others} == {"train", "validation", "test"}
    source = {"kind": "local", "name": "manual", "path": "."}
    with pytest.raises(ValueError, match=r"test_sources names no configured source: \['faq'\]"):
        Settings.model_validate({"sources": [source], "splits": {"test_sources": ["faq"]}})


def test_a_held_out_faq_source_gives_the_questions_whatever_its_seeded_split() -> None:
    chunks = chunks_frame().assign(doc_id=lambda f: f["doc_id"].replace(FAQ, "faq:faq.md"))
    sources = [{"kind": "local", "name": name, "path": "."} for name in ("docs", "faq", "repo")]
    # A seed that would put the FAQ page in train: only test_sources holds it out.
    seed = next(s for s in range(100) if split_of("faq:faq.md", SplitSettings(seed=s)) == "train")
    no_pairs = pd.DataFrame(columns=["doc_id", "split"])

    def harvested(test_sources: list[str]) -> list[str]:
        splits = {"seed": seed, "test_sources": test_sources}
        settings = Settings.model_validate({"sources": sources, "splits": splits})
        return sorted(harvest_faq(chunks, doc_split_lookup(no_pairs, settings)).queries.values())

    assert harvested([]) == []
    assert harvested(["faq"]) == ["How do I reset my password?", "Why is my build slow?"]
