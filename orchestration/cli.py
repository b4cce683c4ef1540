"""``embedloop``: run the pipeline, export a model or try a search, without the UI.

embedloop run [--wait] [--verbose] [--config FILE]
embedloop export-model --stage production|latest --to DIR [--openvino] [--config FILE]
embedloop search "question" [--k 5] [--dim D] [--config FILE]
embedloop serve [--host H] [--port P] [--config FILE]
embedloop lineage [VERSION] [--json] / embedloop rollback VERSION --reason WHY [--by NAME]
embedloop preview-queries PATH [--n 20] [--config FILE]
embedloop evaluate --model DIR|production|base --questions FILE [--config FILE]
"""

import argparse
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import dagster as dg

from embedloop.config import CONFIG_ENV_VAR, ConfigError, Settings, load_settings
from embedloop.progress import show_bars
from orchestration.cli_lineage import add_commands as add_lineage_commands
from orchestration.cli_serving import ServingError
from orchestration.cli_serving import add_commands as add_serving_commands

# What `embedloop COMMAND --help` says about each command, above its arguments.
DESCRIPTIONS = {
    "run": "Materialize the whole asset graph in this process: ingest, generate pairs, publish "
    "for review, train, evaluate and gate. Prints a line per step and a summary; with "
    "$DAGSTER_HOME set the run is recorded where the Dagster UI shows it.",
    "export-model": "Write the production model (or the newest version) to a directory that "
    "sentence-transformers loads, optionally with an OpenVINO copy for serving.",
    "preview-queries": "Parse and chunk one document file as ingestion would, then print the "
    "synthetic queries the configured generator makes for it. Writes nothing.",
    "evaluate": "Score a model on a file of real questions (CSV or JSONL: the question and "
    "where its answer is) against the ingested corpus, and print its metrics per dim.",
    "lineage": "Print where a model version came from: the Dagster run, the data snapshot, the "
    "review feedback and the evaluation that promoted (or held) it.",
    "rollback": "Make an older model version production again, recorded in ZenML and in the "
    "Dagster run log with the reason and who did it.",
    "search": "Retrieve the best chunks for a question from the production index.",
    "serve": "Serve the search API (FastAPI on uvicorn) over the production index; every "
    "search is logged for the loop to learn from, POST /feedback takes what helped.",
    "searches": "The search log: `purge --before DATE` deletes logged searches and their "
    "feedback (people's queries can hold private data).",
}


class CliError(RuntimeError):
    """An error for the user: printed without a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.config:
            os.environ[CONFIG_ENV_VAR] = str(Path(args.config).resolve())
        settings = load_settings(args.config)
        if settings.model.offline:  # only when asked: a hub model id downloads otherwise
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return int(args.handler(args, settings) or 0)
    except (ConfigError, CliError, ServingError) as err:
        print(f"embedloop: {err}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="embedloop", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", help=f"config file (default: ${CONFIG_ENV_VAR} or ./embedloop.yaml)"
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {metadata.version('embedloop')}"
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="materialize the whole asset graph in-process")
    run.add_argument(
        "--verbose", action="store_true", help="print a failing step's whole traceback"
    )
    run.add_argument(
        "--wait",
        action="store_true",
        help="if another run is using the data directory, wait for it instead of failing",
    )
    run.set_defaults(handler=_run)

    export = sub.add_parser("export-model", help="write a model directory")
    export.add_argument(
        "--stage",
        choices=["production", "latest"],
        default="production",
        help="the production model or the newest version (default: production)",
    )
    export.add_argument("--to", required=True, type=Path, help="target directory")
    export.add_argument(
        "--openvino", action="store_true", help="also write an OpenVINO copy for serving"
    )
    export.set_defaults(handler=_export)

    preview = sub.add_parser(
        "preview-queries", help="print the pairs the generator makes for one document file"
    )
    preview.add_argument("path", type=Path, help="a Markdown, RST, HTML or text file")
    preview.add_argument("--n", type=int, default=20, help="pairs to print (default 20)")
    preview.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    preview.set_defaults(handler=_preview_queries)
    evaluate = sub.add_parser("evaluate", help="score a model on your own question file")
    evaluate.add_argument("--model", required=True, help="a model directory, production or base")
    evaluate.add_argument("--questions", required=True, type=Path, help="CSV or JSONL file")
    evaluate.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    evaluate.set_defaults(handler=_evaluate)
    add_lineage_commands(sub)  # lineage, rollback (orchestration/cli_lineage.py)
    add_serving_commands(sub)  # search, serve, searches (orchestration/cli_serving.py)
    for p in (run, export):
        p.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    for name, command in sub.choices.items():
        command.description = DESCRIPTIONS.get(name, command.description)
    return parser


def _run(args: argparse.Namespace, settings: Settings) -> int:
    _quiet_libraries()  # before the imports below pull the libraries in
    from orchestration.definitions import build_definitions
    from orchestration.run_report import RunReport
    from orchestration.stale_runs import fail_dead_runs

    show_bars(sys.stderr.isatty())
    report = RunReport(verbose=args.verbose)
    defs = build_definitions(
        args.config, loggers={"progress": report.logger()}, wait_for_lock=args.wait
    )
    home = os.environ.get("DAGSTER_HOME")
    if home:
        # Record the run where the UI looks; Dagster wants the directory to exist.
        Path(home).mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.get() if home else dg.DagsterInstance.ephemeral()
    for run_id in fail_dead_runs(instance):
        print(f"marked run {run_id} failed: its process is gone")
    print(f"embedloop run: data in {settings.data_dir}" + (f", recorded in {home}" if home else ""))
    result = defs.resolve_job_def("embedloop_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        # Only the progress logger: Dagster's console logger prints every debug event.
        run_config={"loggers": {"progress": {}}},
    )
    print()
    print(report.summary())
    if result.success:
        print(f"\nrun {result.run_id} succeeded")
        return 0
    failed = report.failure
    where = f" at {failed.step}: {failed.detail}" if failed else ""
    print(f"\nrun {result.run_id} FAILED{where}", file=sys.stderr)
    return 1


# pydantic warns about a field of distilabel's, in every process that imports it.
_LIBRARY_WARNING = "The 'default' attribute with value None"


def _quiet_libraries() -> None:
    """Libraries' own chatter (ZenML, transformers) would drown the step lines."""
    warnings.filterwarnings("ignore", message=_LIBRARY_WARNING)
    os.environ.setdefault("PYTHONWARNINGS", f"ignore:{_LIBRARY_WARNING}")  # worker processes
    os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "ERROR")
    # Libraries' own tqdm bars (Argilla's uploads, "Loading weights", model cards) default
    # to off; embedloop.progress draws its bars with disable=False.
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in (
        "distilabel",
        "datasets",
        "sentence_transformers",
        "httpx",
        "great_expectations",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Argilla's SDK shrinks our upload batches to fit its request size and warns each time.
    logging.getLogger("argilla.sdk").addFilter(
        lambda record: "batch size" not in record.getMessage()
    )


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from training.registry import export_model_version

    target: Path = args.to
    if target.exists() and not target.is_dir():
        raise CliError(f"{target} exists and is not a directory")
    if target.exists() and any(target.iterdir()):
        raise CliError(f"{target} exists and is not empty")
    existed = target.exists()
    try:
        version = export_model_version(settings, args.stage, target, openvino=args.openvino)
    except LookupError as err:
        if not existed:  # remove only what this command created
            shutil.rmtree(target, ignore_errors=True)
        raise CliError(str(err)) from None
    print(f"exported {settings.training.model_name} version {version} ({args.stage}) to {target}")
    return 0


def _preview_queries(args: argparse.Namespace, settings: Settings) -> int:
    _quiet_libraries()
    from embedloop.pairs.preview import PreviewError, format_preview, preview_document

    if args.n < 1:
        raise CliError("--n must be at least 1")
    try:
        preview = preview_document(args.path, settings)
    except PreviewError as err:
        raise CliError(str(err)) from None
    print(format_preview(preview, args.n))
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    _quiet_libraries()
    from embedloop.evaluation.byo import evaluate_questions

    try:
        report = evaluate_questions(settings, args.model, args.questions)
    except (LookupError, ValueError) as err:  # no model or corpus; a malformed question file
        raise CliError(str(err)) from None
    print(report.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
