"""``embedloop lineage`` and ``embedloop rollback``: where a model came from, and going back.

embedloop lineage [VERSION] [--json]        # default: the production version, else the latest
embedloop rollback VERSION --reason "..." [--by NAME]

``lineage`` reads the ZenML model version (``training.lineage``) and prints the chain:
source documents, chunks, pairs by generator, the feedback snapshot, the Dagster run, the
ZenML runs, the metrics and the promotion decision. ``rollback`` runs Dagster's
``rollback_job``, recorded in ``$DAGSTER_HOME`` when set (so the UI's run log shows who
rolled back and why) and on the ZenML version.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from embedloop.config import Settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the two subcommands on ``embedloop``'s subparsers."""
    lineage = sub.add_parser("lineage", help="print where a model version came from")
    lineage.add_argument("version", nargs="?", type=int, help="default: production, else latest")
    lineage.add_argument("--json", action="store_true", help="print the raw record as JSON")
    lineage.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    lineage.set_defaults(handler=_lineage)

    rollback = sub.add_parser("rollback", help="make an older model version production again")
    rollback.add_argument("version", type=int, help="the model version to put back")
    rollback.add_argument("--reason", required=True, help="why (kept with the version)")
    rollback.add_argument("--by", default="", help="who (default: your user name)")
    rollback.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    rollback.set_defaults(handler=_rollback)


def _fail(message: str) -> int:
    print(f"embedloop: {message}", file=sys.stderr)
    return 2


def _lineage(args: argparse.Namespace, settings: Settings) -> int:
    from training.lineage import lineage

    try:
        report = lineage(settings, args.version)
    except LookupError as err:
        return _fail(str(err))
    print(json.dumps(report, indent=2, default=str) if args.json else format_lineage(report))
    return 0


def format_lineage(report: dict[str, Any]) -> str:
    rec = report.get("lineage") or {}
    lines = [
        f"{report['model']} version {report['version']} ({report['stage'] or 'no stage'}), "
        f"created {report['created']}"
    ]
    if not rec:
        lines.append("  (no lineage recorded: trained before lineage was recorded)")
    docs = rec.get("documents") or {}
    if docs:
        lines.append(
            f"  documents  {docs.get('live', 0)} live ({docs.get('deleted', 0)} deleted), "
            f"newest change {docs.get('newest_change', '-')}"
        )
    if "chunks" in rec:
        lines.append(f"  chunks     {rec['chunks']}")
    lines += _pair_lines(rec.get("pairs_by_generator") or {})
    fb = rec.get("feedback") or {}
    if fb:
        lines.append(
            f"  feedback   {fb.get('responses', 0)} submitted responses "
            f"({fb.get('review_responses', 0)} reviews, {fb.get('question_responses', 0)} "
            f"questions), newest {fb.get('latest_updated_at', '-')}"
        )
    lines += _dagster_lines(rec.get("dagster") or {}, report.get("dagster_run_id"))
    lines += _zenml_lines(report.get("zenml") or {})
    lines += _outcome_lines(report)
    return "\n".join(lines)


def _pair_lines(pairs: dict[str, dict[str, int]]) -> list[str]:
    if not pairs:
        return []
    lines = ["  pairs      by generator (train / validation / test):"]
    for generator, splits in sorted(pairs.items()):
        counts = " / ".join(str(splits.get(s, 0)) for s in ("train", "validation", "test"))
        lines.append(f"             {generator:<24} {counts}")
    return lines


def _dagster_lines(dagster: dict[str, Any], fallback_run: str | None) -> list[str]:
    run_id = dagster.get("run_id") or fallback_run
    if not run_id:
        return ["  dagster    (no Dagster run: trained outside Dagster)"]
    trigger = dagster.get("trigger") or {}
    lines = [f"  dagster    run {run_id} ({dagster.get('job', '?')}), trigger "
             f"{trigger.get('embedloop/trigger', 'manual')}"]  # fmt: skip
    if "embedloop/feedback_submitted" in trigger:
        lines.append(
            f"             feedback when requested: {trigger['embedloop/feedback_submitted']} "
            f"responses, newest {trigger.get('embedloop/feedback_latest', '-')}"
        )
    for asset, version in (dagster.get("input_data_versions") or {}).items():
        lines.append(f"             input {asset} data version {version}")
    return lines


def _zenml_lines(zenml: dict[str, Any]) -> list[str]:
    lines = []
    for run in zenml.get("runs") or []:
        url = f"  {run['url']}" if run.get("url") else ""
        lines.append(f"  zenml      {run['pipeline']}: {run['name']} ({run['status']}){url}")
    if zenml.get("model_version_url"):
        lines.append(f"  zenml      model version {zenml['model_version_url']}")
    return lines


def _outcome_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    metrics = report.get("metrics") or {}
    if metrics:
        dim = metrics["dim"]
        scores = ", ".join(
            f"{who} {metrics[who].get('ndcg@10', 0):.4f}"
            for who in ("base", "incumbent", "candidate")
            if who in metrics
        )
        lines.append(f"  metrics    nDCG@10 at dim {dim}: {scores}")
    promotion = report.get("promotion") or {}
    if promotion:
        verdict = "promoted" if promotion.get("promoted") else "not promoted"
        lines.append(
            f"  promotion  {verdict} ({promotion.get('stage')}): {promotion.get('reason')}"
        )
    rollback = report.get("rollback")
    if rollback:
        lines.append(
            f"  rollback   by {rollback.get('by')} at {rollback.get('at')} (production was "
            f"{rollback.get('previous_production', 'none')}): {rollback.get('reason')}"
        )
    return lines


def _rollback(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.definitions import build_definitions

    if not args.reason.strip():
        return _fail("--reason must say why (it is recorded with the version)")
    home = os.environ.get("DAGSTER_HOME")
    if home:
        Path(home).mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.get() if home else dg.DagsterInstance.ephemeral()
    job = build_definitions(args.config).resolve_job_def("rollback_job")
    config = {"version": args.version, "reason": args.reason, "by": args.by}
    result = job.execute_in_process(
        instance=instance,
        run_config={"ops": {"rollback_model": {"config": config}}},
        raise_on_error=False,
    )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        error = failure.step_failure_data.error if failure and failure.step_failure_data else None
        return _fail(error.message.strip() if error else f"rollback run {result.run_id} failed")
    done = result.output_for_node("rollback_model")
    print(
        f"{settings.training.model_name} version {done['version']} is production again "
        f"(was {done['previous_production']}), by {done['by']}; Dagster run {result.run_id}"
    )
    return 0
