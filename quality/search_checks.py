"""GX suites and blocking asset checks of the search log and what it trains.

``search_log`` copies what people searched into the warehouse; before any of it reaches
Argilla or training: no empty query, every search answered by a model version the loop
knows (``base`` or an exported version under ``<data_dir>/models``), every piece of
feedback about a logged search and a chunk it returned. ``training_splits`` then must hold
no query of the ``searches`` evaluation set: a model trained on them would be graded on
its own homework.
"""

from __future__ import annotations

import dagster as dg
import great_expectations.expectations as gxe
import pandas as pd
from dagster_duckdb import DuckDBResource

from embedloop.config import Settings
from embedloop.pairs.filters import normalize_query
from embedloop.searches.judgments import evaluation_queries
from embedloop.searches.log import NONE_HELPFUL
from embedloop.searches.tables import SEARCH_FEEDBACK, SEARCH_JUDGMENTS, SEARCHES
from embedloop.warehouse import TRAINING_SPLITS, read_table
from quality.checks import to_check_result
from quality.gx_validation import ValidationOutcome, combine, validate_frame


def known_versions(settings: Settings) -> list[str]:
    """``base`` and every exported model version this data directory holds."""
    models = settings.data_dir / "models"
    exported = [p.name for p in models.iterdir() if p.name.isdigit()] if models.is_dir() else []
    return ["base", *sorted(exported, key=int)]


def validate_search_log(
    searches: pd.DataFrame, feedback: pd.DataFrame, versions: list[str]
) -> ValidationOutcome:
    returned = {
        (s, c)
        for s, ids in zip(searches["search_id"], searches["chunk_ids"], strict=True)
        for c in ids
    }
    facts = pd.DataFrame(
        {
            "search_id": feedback["search_id"],
            "about_logged_search": feedback["search_id"].isin(set(searches["search_id"])),
            "about_returned_chunk": [
                c == NONE_HELPFUL or (s, c) in returned
                for s, c in zip(feedback["search_id"], feedback["chunk_id"], strict=True)
            ],
        }
    )
    return combine(
        "search_log",
        [
            validate_frame(
                searches.assign(query_words=searches["query"].map(lambda q: len(str(q).split()))),
                "searches",
                [
                    gxe.ExpectColumnValuesToBeUnique(column="search_id"),
                    gxe.ExpectColumnValuesToNotBeNull(column="query"),
                    gxe.ExpectColumnValuesToBeBetween(column="query_words", min_value=1),
                    gxe.ExpectColumnValuesToBeInSet(column="model_version", value_set=versions),
                ],
            ),
            validate_frame(
                facts,
                "search_feedback",
                [
                    gxe.ExpectColumnValuesToBeInSet(column="about_logged_search", value_set=[True]),
                    gxe.ExpectColumnValuesToBeInSet(
                        column="about_returned_chunk", value_set=[True]
                    ),
                ],
            ),
        ],
    )


def validate_no_search_exam(pairs: pd.DataFrame, judgments: pd.DataFrame) -> ValidationOutcome:
    exam = evaluation_queries(judgments)
    facts = pd.DataFrame(
        {
            "pair_id": pairs["pair_id"],
            "trains_on_evaluation_search": [normalize_query(q) in exam for q in pairs["query"]],
        }
    )
    return validate_frame(
        facts,
        "training_splits_searches",
        [gxe.ExpectColumnValuesToBeInSet(column="trains_on_evaluation_search", value_set=[False])],
    )


@dg.asset_check(
    asset="search_log",
    blocking=True,
    description="GX: no empty query, known model versions, feedback only about logged "
    "searches and the chunks they returned.",
)
def search_log_valid(
    settings: dg.ResourceParam[Settings], duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        searches = read_table(conn, SEARCHES)
        feedback = read_table(conn, SEARCH_FEEDBACK)
    outcome = validate_search_log(searches, feedback, known_versions(settings))
    return to_check_result(outcome, {"searches": dg.MetadataValue.int(len(searches))})


@dg.asset_check(
    asset="training_splits",
    blocking=True,
    description="GX: no query of the `searches` evaluation set (searches people judged in "
    "Argilla with role evaluate) is in the training table.",
)
def training_splits_exclude_evaluation_searches(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        pairs = read_table(conn, TRAINING_SPLITS)
        judgments = read_table(conn, SEARCH_JUDGMENTS)
    outcome = validate_no_search_exam(pairs, judgments)
    return to_check_result(
        outcome, {"evaluation_searches": dg.MetadataValue.int(len(evaluation_queries(judgments)))}
    )


SEARCH_CHECKS = [search_log_valid, training_splits_exclude_evaluation_searches]
