"""The demo's data tables at an earlier commit vs the working tree: a refactor changes nothing.

Materializes the data assets of the demo (`source_documents` through `candidate_pairs`, their
asset checks included) twice with the Dagster CLI, once in a git worktree of BEFORE and once
in this tree, each with its own data directory, then compares every warehouse table row for
row, ignoring the columns that only record when a run happened. Training is left out: it is
measured by the real-question benches, not by equality.

    python -m bench.demo_table_parity --before 6593011 [--work-dir /tmp/parity]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA_ASSETS = (
    "source_documents", "skipped_documents", "document_chunks", "synthetic_queries",
    "hard_negatives", "candidate_pairs",
)  # fmt: skip
RUN_TIME_COLUMNS = {"ingested_at", "updated_at", "created_at", "generated_at", "run_id"}


def materialize(tree: Path, work: Path) -> Path:
    """Run the data assets of ``tree`` into ``work``; the warehouse it wrote."""
    (work / "dagster_home").mkdir(parents=True, exist_ok=True)
    settings = yaml.safe_load((tree / "embedloop.yaml").read_text())
    config = work / "embedloop.yaml"
    config.write_text(yaml.safe_dump(settings | {"data_dir": str(work / "data")}))
    env = os.environ | {
        "DAGSTER_HOME": str(work / "dagster_home"),
        "EMBEDLOOP_CONFIG": str(config),
        "PYTHONPATH": str(tree),
        "HF_HUB_OFFLINE": "1",
    }
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
               "-m", "orchestration.definitions", "--select", ",".join(DATA_ASSETS)]  # fmt: skip
    with (work / "dagster.log").open("w") as log:
        subprocess.run(command, cwd=tree, env=env, stdout=log, stderr=log, check=True)
    return work / "data" / "warehouse.duckdb"


def table_frames(warehouse: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as db:
        listed = db.execute("select table_name from information_schema.tables").fetchall()
        names = [row[0] for row in listed]
        return {name: db.execute(f'select * from "{name}"').df() for name in names}


def same_rows(before: pd.DataFrame, after: pd.DataFrame, columns: list[str]) -> bool:
    def canonical(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[columns].astype(str).sort_values(columns).reset_index(drop=True)

    return len(before) == len(after) and canonical(before).equals(canonical(after))


def compare(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> bool:
    identical = True
    for name in sorted(before.keys() | after.keys()):
        if name not in before or name not in after:
            print(f"{name}: only {'after' if name in after else 'before'}")
            identical = False
            continue
        old, new = before[name], after[name]
        columns = [c for c in old.columns if c in new.columns and c not in RUN_TIME_COLUMNS]
        one_side = sorted(set(old.columns) ^ set(new.columns))
        same = same_rows(old, new, columns) and not one_side
        identical &= same
        verdict = "identical" if same else "DIFFERENT"
        extra = f"; only one side: {one_side}" if one_side else ""
        print(f"{name}: {len(old)} -> {len(new)} rows, {len(columns)} columns, {verdict}{extra}")
    return identical


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="the commit to compare the working tree with")
    ap.add_argument("--work-dir", type=Path, help="where both runs write (default: a temp dir)")
    args = ap.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="demo-parity-"))
    tree = work / "before-tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.before],
                   cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    try:
        old = table_frames(materialize(tree, work / "before"))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=True)
    new = table_frames(materialize(ROOT, work / "after"))
    print(f"\nbefore {args.before}, after the working tree; runs in {work}")
    print("ALL IDENTICAL" if compare(old, new) else "SOME TABLES DIFFER")


if __name__ == "__main__":
    main()
