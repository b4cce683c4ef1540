"""Screenshots of the UIs a person lives in: Dagster's and Argilla's, on the demo data.

Proof that the UI works and is readable is a picture of it, not a GraphQL answer. This
script brings up what `make dev` brings up (the local Argilla, `dagster dev` with its
daemon) on a data directory that has run the pipeline once, drives Debian's chromium
headless through Playwright, and saves:

    asset_graph.png           the global asset lineage, every group expanded
    embedding_evaluation.png  the evaluation asset with its nDCG@10 chart opened
    loss_curve.png            finetuned_embedding_model with its training-loss curve opened
    sensor_ticks.png          argilla_feedback_sensor and its tick history
    argilla_sign_in.png       Argilla's sign-in form, filled in
    argilla_annotation.png    the review dataset's annotation view

    python -m bench.ui_screenshots [--out bench/out/ui] [--data-dir DIR]

Without --data-dir it uses bench/out/ui-data and, the first time, runs `embedloop run`
there on a small config (two stdlib modules, 12 training steps: minutes on a CPU). With
the data directory of an existing run (e.g. `make demo`'s ``data``; its config is found, or
give it with --config) it uses that run's Dagster home and Argilla; an Argilla already
running there is reused. It exits non-zero, naming the page, when a page does not render.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import ui_pages, ui_stack
from embedloop.config import load_settings

SENSOR = "argilla_feedback_sensor"
DEFAULT_OUT = ui_stack.ROOT / "bench" / "out" / "ui"
DEFAULT_DATA = ui_stack.ROOT / "bench" / "out" / "ui-data"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the PNGs go")
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA, help="a run's data directory"
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="that run's config (default: DATA_DIR/embedloop-ui.yaml or ./embedloop.yaml)",
    )
    parser.add_argument("--dagster-port", type=int, help="default: a free port")
    parser.add_argument("--argilla-port", type=int, help="a running stack's port, or free")
    return parser.parse_args(argv)


def take_dagster_shots(base: str, out: Path) -> list[Path]:
    """The Dagster pages, once the code location has loaded and the sensor has ticked."""
    location = ui_stack.code_location(base)
    ui_stack.wait_for_sensor_tick(base, location, SENSOR)
    with ui_pages.browser() as instance:
        return [
            ui_pages.asset_graph(instance, base, out / "asset_graph.png", "embedding_evaluation"),
            ui_pages.asset_markdown(
                instance,
                base,
                out / "embedding_evaluation.png",
                "embedding_evaluation",
                "ndcg_chart",
            ),
            ui_pages.asset_markdown(
                instance, base, out / "loss_curve.png", "finetuned_embedding_model", "loss_curve"
            ),
            ui_pages.sensor_ticks(instance, base, out / "sensor_ticks.png", location, SENSOR),
        ]


def take_argilla_shots(
    cfg: ui_stack.argilla_stack.StackConfig, dataset: str, out: Path
) -> list[Path]:
    """Sign in with the stack's owner credentials, then the review dataset's annotation view."""
    owner = cfg.stored_credentials()
    if owner is None:
        raise ui_stack.UIStackError(f"no owner credentials in {cfg.credentials_file}")
    dataset_id = ui_stack.argilla_dataset_id(cfg, dataset)
    sign_in = out / "argilla_sign_in.png"
    with ui_pages.browser() as instance:
        page = ui_pages.argilla_sign_in(
            instance, cfg.api_url, owner.username, owner.password, sign_in
        )
        annotation = out / "argilla_annotation.png"
        return [sign_in, ui_pages.argilla_annotation(page, cfg.api_url, dataset_id, annotation)]


def run(args: argparse.Namespace) -> list[Path]:
    layout = ui_stack.layout_for(args.data_dir, args.config)
    dataset = load_settings(layout.config).argilla.dataset
    with ui_stack.argilla_running(layout, args.argilla_port) as argilla:
        ui_stack.ensure_pipeline_ran(layout, argilla.api_url)
        shots = take_argilla_shots(argilla, dataset, args.out)
        port = args.dagster_port or ui_stack.free_port()
        with ui_stack.dagster_dev(layout, argilla.api_url, port) as base:
            shots += take_dagster_shots(base, args.out)
    return shots


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        shots = run(args)
    except (ui_stack.UIStackError, ui_pages.PageError) as err:
        print(f"ui_screenshots: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # a service that stopped answering mid-way
        print(f"ui_screenshots: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    for shot in shots:
        print(f"saved {shot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
