"""What `embedloop run` prints: one line per step with its duration, then a summary.

A Dagster logger receives every event of the in-process run. Each finished step becomes one
line (materialized assets, a check's verdict, or the failure's message); materialization
metadata is kept to print the closing summary: documents, chunks, pairs, records published,
the model version, nDCG@10 base → finetuned per dim and the promotion decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from embedloop.metrics import PRIMARY
from embedloop.reports import text_table


@dataclass
class StepLine:
    step: str
    status: str  # done | FAILED | skipped
    seconds: float
    detail: str = ""


@dataclass
class RunReport:
    """Collects the run's events; ``print_line`` receives each finished step's line."""

    print_line: Callable[[str], None] = print
    verbose: bool = False
    steps: list[StepLine] = field(default_factory=list)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # asset -> values
    failure: StepLine | None = None
    _started: dict[str, float] = field(default_factory=dict)
    _produced: dict[str, list[str]] = field(default_factory=dict)
    _labels: dict[str, str] = field(default_factory=dict)  # step key -> what a person reads
    _check_failures: dict[str, str] = field(default_factory=dict)

    def logger(self) -> dg.LoggerDefinition:
        report = self

        @dg.logger(config_schema=None, description="One line per step, then a summary.")
        def progress_logger(init_context: object) -> logging.Logger:
            logger = logging.Logger("embedloop.run", level=logging.DEBUG)
            logger.addHandler(_Handler(report))
            return logger

        return progress_logger

    def on_event(self, event: Any, created: float) -> None:
        kind, step = event.event_type_value, event.step_key
        if kind == "STEP_START":
            self._started[step] = created
        elif kind == "ASSET_MATERIALIZATION":
            key = event.asset_key.to_user_string()
            self._produced.setdefault(step, []).append(key)
            self.metadata[key] = {
                k: getattr(v, "value", v)
                for k, v in event.event_specific_data.materialization.metadata.items()
            }
        elif kind == "ASSET_CHECK_EVALUATION":
            self._on_check(event.event_specific_data, step)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            self._finish(event, kind, step, created)
        elif kind == "RESOURCE_INIT_FAILURE" and self.failure is None:
            # Before any step: a resource could not start (e.g. the run lock is taken).
            line = StepLine("start", "FAILED", 0.0, _failure_message(event, self.verbose))
            self.failure = line
            self.steps.append(line)
            self.print_line(f"  {line.step:<46} {line.status:<7} {line.detail}")

    def _on_check(self, data: Any, step: str) -> None:
        asset = data.asset_key.to_user_string()
        self._labels[step] = f"check {data.check_name}"
        values = {k: getattr(v, "value", v) for k, v in data.metadata.items()}
        if data.passed:
            self._produced.setdefault(step, []).append(f"{asset} passed")
            return
        reason = f"{asset}: {values.get('failures') or 'check failed'}"
        if data.severity == dg.AssetCheckSeverity.WARN:
            self._produced.setdefault(step, []).append(f"WARNING {reason}")
        else:
            self._check_failures[step] = reason

    def _finish(self, event: Any, kind: str, step: str, created: float) -> None:
        seconds = created - self._started.get(step, created)
        label = self._labels.get(step, step)
        if kind == "STEP_FAILURE":
            detail = self._check_failures.get(step) or _failure_message(event, self.verbose)
            line = StepLine(label, "FAILED", seconds, detail)
            self.failure = self.failure or line
        else:
            status = "done" if kind == "STEP_SUCCESS" else "skipped"
            line = StepLine(label, status, seconds, ", ".join(self._produced.get(step, [])))
        self.steps.append(line)
        self.print_line(
            f"  {line.step:<46} {line.status:<7} {line.seconds:6.1f} s  {line.detail}".rstrip()
        )

    def summary(self) -> str:
        """The closing table; rows for the assets this run did not materialize are left out."""
        return text_table(["run summary", ""], summary_rows(self.metadata))


def summary_rows(metadata: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    rows: list[list[str]] = []

    def add(label: str, asset: str, key: str) -> None:
        if key in metadata.get(asset, {}):
            rows.append([label, str(metadata[asset][key])])

    add("documents", "source_documents", "live_documents")
    add("chunks", "document_chunks", "dagster/row_count")
    add("generated pairs", "synthetic_queries", "dagster/row_count")
    add("candidate pairs", "candidate_pairs", "dagster/row_count")
    add("training pairs (train split)", "training_splits", "train_pairs")
    add("records in Argilla", "argilla_review_dataset", "records")
    add("records published this run", "argilla_review_dataset", "sent")
    add("model version", "finetuned_embedding_model", "model_version")
    evaluation = metadata.get("embedding_evaluation", {})
    for dim, values in sorted(
        (evaluation.get(f"{PRIMARY}_by_dim") or {}).items(), key=lambda kv: -int(kv[0])
    ):
        base, tuned = values["base"], values["finetuned"]
        change = f" ({(tuned - base) / base:+.1%})" if base else ""
        rows.append([f"nDCG@10 @{dim}: base → finetuned", f"{base:.3f} → {tuned:.3f}{change}"])
    if "promoted" in evaluation:
        verdict = "promoted to production" if evaluation["promoted"] else "not promoted"
        rows.append([f"version {evaluation.get('model_version')}", verdict])
        rows.append(["why", str(evaluation.get("reason", ""))])
    if evaluation.get("primary_set") == "synthetic":
        rows.append(["judged on", GENERATED_ONLY])
    add("search index: chunks", "production_index", "dagster/row_count")
    add("search index: model version", "production_index", "model_version")
    return rows


# What the summary says while no person's question judges the model (issue 20).
GENERATED_ONLY = (
    "generated queries only: no real questions yet, so this verdict says little about the "
    "people who search. Add them with a question file (evaluation.question_files: CSV or "
    "JSONL, each question with where its answer is), FAQ headings ('...?') in your docs, "
    "or answers in Argilla's question task (argilla.question_dataset); once they hold "
    "training.min_real_queries, they decide promotion and every document trains"
)


def _failure_message(event: Any, verbose: bool) -> str:
    data = event.event_specific_data
    user = getattr(data, "user_failure_data", None)
    error = data.error
    if verbose and error is not None:
        return error.to_string()
    if user is not None and user.description:
        return str(user.description)
    while error is not None and error.cause is not None:
        error = error.cause  # the user's exception, not Dagster's wrapper
    return error.message.strip() if error is not None else "failed"


class _Handler(logging.Handler):
    def __init__(self, report: RunReport) -> None:
        super().__init__()
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is not None:
            self.report.on_event(event, record.created)
