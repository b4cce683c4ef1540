"""Run a Great Expectations Core 1.x suite on an in-memory DataFrame.

An ephemeral context per validation keeps runs independent (nothing is written to disk) and
is cheap to create; the expensive part of GX is its import, paid once per process.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations import Expectation

# GX sets this logger to INFO when it is imported, and it announces every ephemeral context
# ("Created temporary directory ... for ephemeral docs site"): one line per check.
logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    column: str | None
    unexpected_count: int | None
    observed_value: Any
    examples: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationOutcome:
    suite: str
    success: bool
    evaluated: int
    successful: int
    failures: list[FailedExpectation]

    @property
    def success_percent(self) -> float:
        return 100.0 * self.successful / self.evaluated if self.evaluated else 100.0

    def failures_text(self) -> str:
        """One line: each failed expectation, its column and what was found."""
        parts = []
        for f in self.failures:
            where = f" on {f.column}" if f.column else ""
            found = (
                f"{f.unexpected_count} unexpected"
                if f.unexpected_count
                else f"observed {_short(f.observed_value)}"
            )
            parts.append(f"{f.expectation}{where} ({found})")
        return "; ".join(parts) or "all expectations met"

    def failures_markdown(self) -> str:
        if not self.failures:
            return "All expectations met."
        lines = [
            "| expectation | column | unexpected | observed | examples |",
            "|---|---|---|---|---|",
        ]
        for f in self.failures:
            examples = ", ".join(repr(e)[:40] for e in f.examples[:5])
            lines.append(
                f"| {f.expectation} | {f.column or ''} | {f.unexpected_count or ''} "
                f"| {_short(f.observed_value)} | {examples} |"
            )
        return "\n".join(lines)


def validate_frame(
    frame: pd.DataFrame, suite_name: str, expectations: Sequence[Expectation]
) -> ValidationOutcome:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    run_id = uuid.uuid4().hex[:8]
    batch = (
        context.data_sources.add_pandas(f"frames_{run_id}")
        .add_dataframe_asset(name=suite_name)
        .add_batch_definition_whole_dataframe("whole_frame")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite_name}_{run_id}", data=batch, suite=suite)
    )
    result = definition.run(batch_parameters={"dataframe": frame})
    failures = [
        FailedExpectation(
            expectation=r.expectation_config.type if r.expectation_config else "unknown",
            column=r.expectation_config.kwargs.get("column") if r.expectation_config else None,
            unexpected_count=r.result.get("unexpected_count"),
            observed_value=r.result.get("observed_value"),
            examples=list(r.result.get("partial_unexpected_list") or []),
        )
        for r in result.results
        if not r.success
    ]
    stats = result.statistics
    return ValidationOutcome(
        suite=suite_name,
        success=bool(result.success),
        evaluated=int(stats["evaluated_expectations"]),
        successful=int(stats["successful_expectations"]),
        failures=failures,
    )


def combine(suite_name: str, outcomes: Sequence[ValidationOutcome]) -> ValidationOutcome:
    return ValidationOutcome(
        suite=suite_name,
        success=all(o.success for o in outcomes),
        evaluated=sum(o.evaluated for o in outcomes),
        successful=sum(o.successful for o in outcomes),
        failures=[f for o in outcomes for f in o.failures],
    )


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
