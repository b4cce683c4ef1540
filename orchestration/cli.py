"""``embedloop``: run the pipeline, export a model or try a search, without the UI.

embedloop run [--config FILE]
embedloop export-model --stage production|latest --to DIR [--config FILE]
embedloop search "question" [--k 5] [--config FILE]
"""

import argparse
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from orchestration.settings import CONFIG_ENV_VAR, ConfigError, Settings, load_settings

# What a person wants to follow in a headless run; the rest of Dagster's events are noise.
_PROGRESS_EVENTS = {
    "STEP_START": "start",
    "STEP_SUCCESS": "done",
    "STEP_FAILURE": "FAILED",
    "ASSET_MATERIALIZATION": "materialized",
    "ASSET_CHECK_EVALUATION": "check",
}


class CliError(RuntimeError):
    """An error for the user: printed without a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = _parser().parse_args(argv)
    try:
        if args.config:
            os.environ[CONFIG_ENV_VAR] = str(Path(args.config).resolve())
        settings = load_settings(args.config)
        return int(args.handler(args, settings) or 0)
    except (ConfigError, CliError) as err:
        print(f"embedloop: {err}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="embedloop", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", help=f"config file (default: ${CONFIG_ENV_VAR} or ./embedloop.yaml)"
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="materialize the whole asset graph in-process")
    run.set_defaults(handler=_run)

    export = sub.add_parser("export-model", help="write a model directory")
    export.add_argument("--stage", choices=["production", "latest"], default="production")
    export.add_argument("--to", required=True, type=Path, help="target directory")
    export.set_defaults(handler=_export)

    search = sub.add_parser("search", help="retrieve chunks with the production model")
    search.add_argument("question")
    search.add_argument("--k", type=int, default=5)
    search.set_defaults(handler=_search)
    for p in (run, export, search):
        p.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.definitions import build_definitions

    defs = build_definitions(args.config, loggers={"progress": _progress_logger})
    home = os.environ.get("DAGSTER_HOME")
    if home:
        # Record the run where the UI looks; Dagster wants the directory to exist.
        Path(home).mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.get() if home else dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("embedloop_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        # Only the progress logger: Dagster's console logger prints every debug event.
        run_config={"loggers": {"progress": {}}},
    )
    status = "succeeded" if result.success else "FAILED"
    print(f"run {result.run_id} {status}")
    return 0 if result.success else 1


@dg.logger(config_schema=None, description="One line per step, materialization and check.")
def _progress_logger(init_context: object) -> logging.Logger:
    logger = logging.Logger("embedloop.progress", level=logging.DEBUG)
    logger.addHandler(_ProgressHandler())
    return logger


class _ProgressHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None or event.event_type_value not in _PROGRESS_EVENTS:
            return
        label = _PROGRESS_EVENTS[event.event_type_value]
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            label = f"check {data.check_name}: {'passed' if data.passed else 'FAILED'}"
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            label = f"materialized {event.asset_key.to_user_string()}"
        print(f"[{event.step_key}] {label}", flush=True)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from training.registry import export_model_version

    target: Path = args.to
    if target.exists() and any(target.iterdir()):
        raise CliError(f"{target} exists and is not empty")
    try:
        version = export_model_version(settings, args.stage, target)
    except LookupError as err:
        shutil.rmtree(target, ignore_errors=True)
        raise CliError(str(err)) from None
    print(f"exported {settings.training.model_name} version {version} ({args.stage}) to {target}")
    return 0


def _search(args: argparse.Namespace, settings: Settings) -> int:
    from assets.search import search_chunks

    try:
        hits = search_chunks(settings, args.question, k=args.k)
    except LookupError as err:
        raise CliError(str(err)) from None
    for rank, hit in enumerate(hits, start=1):
        print(f"{rank}. [{hit.score:.3f}] {hit.heading_path or hit.doc_id}  ({hit.doc_id})")
        print("   " + " ".join(hit.text.split())[:300])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
