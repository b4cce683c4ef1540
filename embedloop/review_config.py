"""Settings of what people contribute: reviews in Argilla and real questions.

``argilla`` (the review and question datasets, the feedback sensor) and ``evaluation`` (the
question files and FAQ headings that judge models besides the synthetic test split). Kept
out of ``embedloop.config`` so that module stays readable; re-exported from it, so every
setting imports from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from embedloop.source_config import Strict


class ArgillaSettings(Strict):
    """The Argilla dataset where people review synthetic pairs. The API key never lives
    here: ARGILLA_API_KEY (the local stack's key when unset)."""

    api_url: str = Field(
        default="http://127.0.0.1:6900",
        description="Argilla's API. $ARGILLA_API_URL overrides it; the key is $ARGILLA_API_KEY "
        "(the local stack's key when unset).",
    )
    workspace: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")] = Field(
        default="embedloop", description="The Argilla workspace of both datasets."
    )
    dataset: Annotated[str, Field(min_length=1)] = Field(
        default="embedloop-review",
        description="The review dataset: synthetic pairs people mark relevant or not, and correct.",
    )
    max_records: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Publish only the N pairs the current model is least sure about. null = "
        "every pair.",
    )
    batch_size: Annotated[int, Field(gt=0, le=1000)] = Field(
        default=500, description="Records per request."
    )
    timeout_s: Annotated[float, Field(gt=0)] = Field(
        default=60, description="Seconds before a request to Argilla times out."
    )
    min_new_responses: Annotated[int, Field(ge=1)] = Field(
        default=10,
        description="The sensor requests a retraining once this many submitted responses are "
        "new or changed.",
    )
    poll_interval_s: Annotated[int, Field(ge=5)] = Field(
        default=60, description="Seconds between ticks of argilla_feedback_sensor."
    )
    question_dataset: Annotated[str, Field(min_length=1)] = Field(
        default="embedloop-questions",
        description="The question-writing task: a uniform sample of chunks (not by priority) "
        "for which annotators write the question a user would ask. Must differ from"
        " dataset.",
    )
    question_sample_size: Annotated[int, Field(ge=0)] = Field(
        default=200, description="Chunks sampled into the question task."
    )
    question_sample_seed: int = Field(default=0, description="Seed of that sample.")
    question_min_test: Annotated[int, Field(ge=0)] = Field(
        default=30,
        description="At least this many sampled chunks (or every test chunk, if fewer) come "
        "from test-split documents.",
    )

    search_dataset: Annotated[str, Field(min_length=1)] = Field(
        default="embedloop-searches",
        description="Real searches from the search log: each record shows a query and the "
        "passages it returned, one label question per passage. Must differ from the other "
        "two datasets.",
    )
    search_sample_size: Annotated[int, Field(ge=0)] = Field(
        default=100,
        description="New searches published to search_dataset per run: searches someone "
        "marked unhelpful first, then the lowest top scores, near-duplicate queries once.",
    )
    search_passages: Annotated[int, Field(ge=1, le=10)] = Field(
        default=5, description="Returned passages shown (and judged) per search record."
    )

    @model_validator(mode="after")
    def _two_datasets(self) -> ArgillaSettings:
        names = [self.dataset, self.question_dataset, self.search_dataset]
        if len(set(names)) < len(names):
            raise ValueError(
                "dataset, question_dataset and search_dataset must be three different datasets"
            )
        return self


class FeedbackSettings(Strict):
    """What the people who search teach: their feedback in the API and reviewers'
    judgments of their searches in Argilla (search_dataset)."""

    trust_searchers: bool = Field(
        default=False,
        description="Let a searcher's explicit `helpful` train without review. Off: searchers' "
        "feedback only orders what reviewers see (it is biased by position: people rate "
        "what they read, at the top).",
    )
    eval_share: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.3,
        description="Share of each published batch of searches, the newest, whose judgments "
        "evaluate (the `searches` set) instead of train; never both.",
    )
    min_eval_searches: Annotated[int, Field(ge=0)] = Field(
        default=35,
        description="Until the searches set holds this many searches, every new batch goes to "
        "it first. Searches judged with no answering passage among their hits score nothing "
        "and do not count. The gate trusts a set from 30 queries; the rest is a margin for "
        "searches still unjudged that will turn out so.",
    )


class EvaluationSettings(Strict):
    """Evaluation sets besides the synthetic test split (see embedloop.evaluation)."""

    question_files: list[Path] = Field(
        default=[],
        description="CSV or JSONL files of real questions and where their answer is (question +"
        " document[#anchor] | section | answer, optional id and source); relative "
        "to the config file.",
    )
    harvest_faq: bool = Field(
        default=True,
        description='Question headings ("How do I ...?") of test-split documents, with their '
        "sections.",
    )
    skip_unmatched: bool = Field(
        default=False,
        description="Report and skip question-file rows whose answer location matches no chunk.",
    )
