"""Publication planning and feedback decisions, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from embedloop.review.argilla_io import FeedbackState
from embedloop.review.feedback import append_history, current_view, decide, human_eval_set
from embedloop.review.records import plan_publication
from embedloop.warehouse import FEEDBACK_HISTORY, REVIEW_RECORDS
from orchestration.sensors import FeedbackCursor, new_or_changed

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def candidates(*specs: tuple[str, str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "pair_id": pid,
                "chunk_id": f"c-{pid}",
                "doc_id": doc,
                "split": "train",
                "query": f"query {pid}",
                "passage": "passage",
                "heading": "",
                "source": doc,
                "generator": "offline",
                "model": "offline:heading",
                "priority": priority,
                "chunk_state": "current",
            }
            for pid, doc, priority in specs
        ]
    ).sort_values("priority", ascending=False, ignore_index=True)


def test_only_changed_records_are_sent_and_vanished_ones_are_flagged() -> None:
    first = plan_publication(
        candidates(("a", "d1", 5), ("b", "d1", 1), ("c", "d2", 3)),
        REVIEW_RECORDS.empty(),
        {"d1", "d2"},
        None,
        NOW,
    )
    assert (first.new, first.updated, first.flagged, len(first.to_send)) == (3, 0, 0, 3)

    same = plan_publication(
        candidates(("a", "d1", 5), ("b", "d1", 1), ("c", "d2", 3)),
        first.table,
        {"d1", "d2"},
        None,
        NOW,
    )
    assert len(same.to_send) == 0

    # b's chunk changed (new pair b2 in the same doc), c's document is gone, a's priority moved.
    later = plan_publication(
        candidates(("a", "d1", 9), ("b2", "d1", 2)), first.table, {"d1"}, None, NOW + timedelta(1)
    )
    state = later.table.set_index("pair_id")["chunk_state"].to_dict()
    assert state == {"a": "current", "b2": "current", "b": "chunk_changed", "c": "chunk_removed"}
    assert (later.new, later.updated, later.flagged) == (1, 1, 2)
    assert sorted(later.to_send["pair_id"]) == ["a", "b", "b2", "c"]


def test_max_records_picks_the_most_uncertain_and_keeps_what_was_published() -> None:
    pool = candidates(("a", "d", 1), ("b", "d", 7), ("c", "d", 4))
    first = plan_publication(pool, REVIEW_RECORDS.empty(), {"d"}, 2, NOW)
    assert list(first.table["pair_id"]) == ["b", "c"]
    # A new, more uncertain pair arrives: it is added, and c stays published.
    second = plan_publication(
        pd.concat([pool, candidates(("z", "d", 50))]).sort_values("priority", ascending=False),
        first.table,
        {"d"},
        2,
        NOW,
    )
    assert sorted(second.table["pair_id"]) == ["b", "c", "z"]
    assert list(second.to_send["pair_id"]) == ["z"]


def response(rid: str, pair: str, user: str, label: str | None, minutes: int, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "response_id": rid,
        "pair_id": pair,
        "record_id": f"rec-{pair}",
        "user_id": user,
        "status": extra.get("status", "submitted"),
        "relevance": label,
        "corrected_query": extra.get("corrected"),
        "notes": None,
        "updated_at": pd.Timestamp(NOW + timedelta(minutes=minutes)),
    }


def test_history_appends_only_new_versions_and_the_latest_wins() -> None:
    pulled = pd.DataFrame([response("r1", "a", "ann", "relevant", 1)])
    history, added = append_history(FEEDBACK_HISTORY.empty(), pulled, NOW)
    history, again = append_history(history, pulled, NOW)
    assert (added, again) == (1, 0)
    edited = pd.DataFrame([response("r1", "a", "ann", "not_relevant", 5)])
    history, added = append_history(history, edited, NOW)
    assert added == 1 and len(history) == 2  # both versions are kept
    assert list(current_view(history)["relevance"]) == ["not_relevant"]


def test_majority_decides_and_ties_go_to_the_cautious_label() -> None:
    reviewed = candidates(("a", "d", 1), ("b", "d", 1), ("t", "d", 1)).assign(
        split=["train", "train", "test"]
    )
    current = pd.DataFrame(
        [
            response("1", "a", "ann", "relevant", 1),
            response("2", "a", "bob", "relevant", 2),
            response("3", "a", "cat", "not_relevant", 3),
            response("4", "b", "ann", "relevant", 1),
            response("5", "b", "bob", "partially_relevant", 2, corrected="better query"),
            response("6", "t", "ann", "relevant", 1, corrected="human test query"),
            response("7", "t", "bob", None, 1, status="discarded"),
        ]
    )
    decisions = decide(current, reviewed).set_index("pair_id")
    assert decisions.loc["a", "decision"] == "accepted" and decisions.loc["a", "annotators"] == 3
    assert decisions.loc["b", "decision"] == "partial"
    assert decisions.loc["b", "corrected_query"] == "better query"
    evaluation = human_eval_set(decisions.reset_index())
    assert sorted(evaluation["query"]) == ["human test query", "query t"]  # test split only
    assert set(evaluation["origin"]) == {"accepted", "corrected"}


def test_sensor_counts_responses_newer_than_its_cursor() -> None:
    state = FeedbackState(3, "2026-01-03", ["2026-01-01", "2026-01-02", "2026-01-03"])
    assert new_or_changed(state, FeedbackCursor()) == 3
    assert new_or_changed(state, FeedbackCursor(latest="2026-01-01", submitted=1)) == 2
    cursor = FeedbackCursor(latest="2026-01-03", submitted=3)
    assert FeedbackCursor.parse(cursor.dumps()) == cursor
