"""What reviewers see of the search log and what their judgments become: scrubbing,
priority, near-duplicates, roles by time, suggestions only where they cannot bias the
exam, people's negatives, and purges folded into the warehouse copy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from embedloop.config import parse_settings
from embedloop.searches.judgments import judge, search_pairs, unscorable_evaluations
from embedloop.searches.log import LogBatch, LogCursor
from embedloop.searches.merge import merge_log
from embedloop.searches.publication import plan_search_publication, suggestions_for
from embedloop.searches.scrub import scrub
from embedloop.searches.tables import SEARCH_FEEDBACK, SEARCH_RECORDS, SEARCHES

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "kept", "gone"),
    [
        ("mail bob.smith+ops@corp.example.com about quotas", "mail [email] about quotas", "bob"),
        ("token=ghp_abcdefghijklmnopqrstuvwx1234 rejected", "token=[secret] rejected", "ghp_"),
        ("why does sk-proj-ABCDEF0123456789xyz fail", "why does [secret] fail", "sk-proj"),
        ("AKIAIOSFODNN7EXAMPLE in logs", "[secret] in logs", "AKIA"),
        ("clone https://me:hunter2@git.example.com/x", "clone https://[secret]@git", "hunter2"),
        ("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4f", "jwt [secret]", "eyJ"),
        (
            "hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "hash [secret]",
            "9f86",
        ),
        ("password: hunter2 does not work", "password: [secret] does not", "hunter2"),
    ],
)
def test_scrub_masks_what_looks_private(query: str, kept: str, gone: str) -> None:
    out = scrub(query)
    assert kept in out and gone not in out


def test_scrub_leaves_ordinary_questions_alone() -> None:
    for query in ["how do I configure apt-get 2.6 proxies", "git rebase --onto main HEAD~3"]:
        assert scrub(query) == query


def _searches(queries: list[str], scores: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "search_id": [f"s{i}" for i in range(len(queries))],
            "searched_at": [T0 + timedelta(minutes=i) for i in range(len(queries))],
            "query": queries,
            "chunk_ids": [[f"c{i}a", f"c{i}b", f"c{i}c"] for i in range(len(queries))],
            "scores": [[s, s - 0.1, s - 0.2] for s in scores],
        }
    )


def _feedback(rows: list[tuple[str, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["search_id", "chunk_id", "helpful"]).assign(
        user_hash="", rank=1, created_at=T0
    )


def test_publication_priority_duplicates_and_roles() -> None:
    settings = parse_settings(
        {
            "argilla": {"search_sample_size": 4},
            "feedback": {"eval_share": 0.5, "min_eval_searches": 0},
        }
    )
    searches = _searches(
        ["apt proxy", "Apt proxy?", "dpkg lock", "sources list", "kernel upgrade", "mirror"],
        [0.9, 0.8, 0.7, 0.4, 0.95, 0.5],
    )
    feedback = _feedback([("s4", "", False), ("s0", "c0a", True)])
    plan = plan_search_publication(
        searches, feedback, SEARCH_RECORDS.empty(), settings.argilla, settings.feedback, T0
    )
    table = plan.table.sort_values("priority", ascending=False)
    # Unhelpful first, then the lowest top scores; "Apt proxy?" is "apt proxy" again.
    assert list(table["search_id"]) == ["s4", "s3", "s5", "s2"]
    assert plan.new == 4 and len(plan.to_send) == 4
    roles = dict(zip(table["search_id"], table["role"], strict=True))
    assert roles == {"s4": "evaluate", "s5": "evaluate", "s3": "train", "s2": "train"}
    assert all(json.loads(s) == {} for s in table.loc[table["role"] == "evaluate", "suggestions"])

    later = _feedback([("s4", "", False), ("s0", "c0a", True), ("s3", "c3b", True)])
    again = plan_search_publication(
        searches, later, plan.table, settings.argilla, settings.feedback, T0
    )
    # The next batch holds one of the two "apt proxy" searches; s3's new suggestion re-sends
    # it, nothing else changes.
    sent = set(again.to_send["search_id"])
    assert sent in ({"s3", "s0"}, {"s3", "s1"}) and again.updated == 1 and again.new == 1
    s3 = again.table.set_index("search_id").loc["s3"]
    assert json.loads(s3["suggestions"]) == {"2": "answers"} and s3["role"] == "train"


def test_until_the_minimum_every_search_evaluates() -> None:
    settings = parse_settings({"feedback": {"eval_share": 0.1, "min_eval_searches": 3}})
    searches = _searches(["a b", "c d", "e f", "g h"], [0.5, 0.5, 0.5, 0.5])
    plan = plan_search_publication(
        searches, _feedback([]), SEARCH_RECORDS.empty(), settings.argilla, settings.feedback, T0
    )
    evaluate = plan.table.loc[plan.table["role"] == "evaluate", "search_id"]
    assert sorted(evaluate) == ["s1", "s2", "s3"]  # the three newest


def test_evaluation_searches_that_cannot_score_do_not_fill_the_minimum() -> None:
    settings = parse_settings({"feedback": {"eval_share": 0.0, "min_eval_searches": 2}})
    searches = _searches(["a b", "c d", "e f", "g h", "i j"], [0.5] * 5)
    first = plan_search_publication(
        searches.head(2),
        _feedback([]),
        SEARCH_RECORDS.empty(),
        settings.argilla,
        settings.feedback,
        T0,
    )
    assert set(first.table["role"]) == {"evaluate"}
    # Reviewers found an answer among s1's hits, none among s0's: s0 scores nothing.
    judgments = pd.DataFrame(
        {
            "search_id": ["s0", "s0", "s1"],
            "role": ["evaluate"] * 3,
            "label": ["does_not", "partly", "answers"],
        }
    )
    unscorable = unscorable_evaluations(judgments)
    assert unscorable == {"s0"}
    full = plan_search_publication(
        searches, _feedback([]), first.table, settings.argilla, settings.feedback, T0
    )
    short = plan_search_publication(
        searches,
        _feedback([]),
        first.table,
        settings.argilla,
        settings.feedback,
        T0,
        unscorable,
    )
    new_roles = dict(zip(short.table["search_id"], short.table["role"], strict=True))
    assert set(full.table.loc[full.table["role"] == "evaluate", "search_id"]) == {"s0", "s1"}
    assert new_roles == {
        "s0": "evaluate",  # a role, once given, is kept
        "s1": "evaluate",
        "s4": "evaluate",  # the newest new search makes up for s0
        "s3": "train",
        "s2": "train",
    }


def test_suggestions_follow_the_searchers_verdicts() -> None:
    assert suggestions_for(["a", "b", "c"], {"b": True, "": False}) == {
        "1": "does_not",
        "2": "answers",
        "3": "does_not",
    }
    assert suggestions_for(["a", "b"], {"a": False}) == {"1": "does_not"}


def _records() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": ["s-1", "s-2"],
            "search_id": ["1", "2"],
            "role": ["train", "evaluate"],
            "query": ["how to pin a package", "why is apt slow"],
            "chunk_ids": [["a", "b", "c"], ["d", "e"]],
        }
    )


def _history(rows: list[tuple[str, str, dict[str, str], int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "response_id": f"{rid}-{user}",
                "record_id": rid,
                "user_id": user,
                "status": "submitted",
                "labels": json.dumps(labels),
                "updated_at": T0 + timedelta(minutes=minute),
                "pulled_at": T0,
            }
            for rid, user, labels, minute in rows
        ]
    )


def test_judgments_become_pairs_with_peoples_negatives() -> None:
    history = _history(
        [
            ("s-1", "u1", {"1": "does_not", "2": "answers", "3": "does_not"}, 1),
            ("s-1", "u2", {"1": "does_not", "2": "answers"}, 2),
            ("s-2", "u1", {"1": "answers"}, 3),
        ]
    )
    judgments = judge(history, _records())
    assert set(
        zip(judgments["chunk_id"], judgments["label"], judgments["annotators"], strict=True)
    ) == {
        ("a", "does_not", 2),
        ("b", "answers", 2),
        ("c", "does_not", 1),
        ("d", "answers", 1),
    }
    chunks = pd.DataFrame(
        {"chunk_id": list("abcde"), "doc_id": ["d1"] * 5, "text": [f"text {c}" for c in "abcde"]}
    )
    pairs = search_pairs(judgments, chunks)
    assert list(
        zip(pairs["query"], pairs["chunk_id"], pairs["negative_chunk_id"], strict=True)
    ) == [
        ("how to pin a package", "b", "a")  # the best-ranked "does not" is the negative
    ]
    # A tie between annotators is "partly": it teaches nothing.
    split = judge(
        _history([("s-1", "u1", {"1": "answers"}, 1), ("s-1", "u2", {"1": "does_not"}, 2)]),
        _records(),
    )
    assert list(split["label"]) == ["partly"] and search_pairs(split, chunks).empty


def test_trusted_searchers_train_without_review_but_never_on_the_exam() -> None:
    judgments = judge(_history([("s-2", "u1", {"1": "answers"}, 1)]), _records())
    chunks = pd.DataFrame(
        {"chunk_id": ["x", "d"], "doc_id": ["d1", "d2"], "text": ["text x", "text d"]}
    )
    searches = pd.DataFrame(
        {"search_id": ["9", "8"], "query": ["reset my password mail a@b.org", "Why is apt slow?"]}
    )
    liked = _feedback([("9", "x", True), ("8", "x", True)])
    assert search_pairs(judgments, chunks, searches, liked, trust_searchers=False).empty
    trusted = search_pairs(judgments, chunks, searches, liked, trust_searchers=True)
    # "Why is apt slow?" is the exam's query: never trained, whoever vouches for it.
    assert list(trusted["query"]) == ["reset my password mail [email]"]
    assert trusted["negative"].isna().all()


def test_merge_appends_searches_keeps_latest_feedback_and_applies_purges() -> None:
    def batch(searches: pd.DataFrame, feedback: pd.DataFrame, purges: list[str]) -> LogBatch:
        return LogBatch(
            searches,
            feedback,
            pd.DataFrame(
                {"seq": range(len(purges)), "before": purges, "purged_at": "", "searches": 0}
            ),
            LogCursor(),
        )

    first = _searches(["a b", "c d"], [0.5, 0.5]).assign(
        searched_at=lambda f: f["searched_at"].map(lambda t: t.isoformat()),
        k=3,
        dim=384,
        model_version="base",
        index_generation="g",
        latency_ms=1.0,
        user_hash="",
        origin="api",
    )
    feedback = _feedback([("s0", "c0a", True)]).assign(created_at=T0.isoformat(), helpful=1)
    merged = merge_log(SEARCHES.empty(), SEARCH_FEEDBACK.empty(), batch(first, feedback, []))
    assert list(merged.searches["search_id"]) == ["s0", "s1"] and len(merged.feedback) == 1
    changed = feedback.assign(helpful=0)
    purge = (T0 + timedelta(seconds=30)).isoformat()  # before s1, after s0
    again = merge_log(merged.searches, merged.feedback, batch(first.iloc[0:0], changed, [purge]))
    assert list(again.searches["search_id"]) == ["s1"] and again.purged == 1
    assert again.feedback.empty  # s0's feedback went with it
