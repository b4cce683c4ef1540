"""The loop's own gate judging on real questions: the Debian FAQ as a held-out source.

``bench/debian_faq_bench.py`` scores a trained model from outside, in a second warehouse.
This one runs the product as a team would configure it: the Debian Reference and the
Debian FAQ are two sources of one warehouse, ``splits.test_sources: [debian-faq]`` keeps
every FAQ page out of training, and ``evaluation_sets`` harvests the FAQ's "…?" headings as
the ``questions`` set (scored with each heading removed from its answer chunks). The gate
then judges base, incumbent and candidate on those questions, because they are more than
``training.min_real_queries``. Printed: every set's n and nDCG@10 at each dim, the primary
set, the gate's decision and its reason, and the wall time of each step.

    apt-get install debian-faq debian-reference-en
    python -m bench.heldout_source_bench [--max-steps N] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.faq_extract import DEBIAN_FAQ, DEBIAN_REFERENCE, require
from bench.perf_data import print_steps, timed_graph
from embedloop.config import load_settings


def write_config(work: Path, max_steps: int | None) -> Path:
    import yaml

    reference = require(DEBIAN_REFERENCE / "ch01.en.html", "debian-reference-en").parent
    faq = require(DEBIAN_FAQ / "index.en.html", "debian-faq").parent
    html = {"include": ["*.en.html"], "exclude": ["index.en.html"]}
    config: dict[str, Any] = {
        "data_dir": str(work / "data"),
        "sources": [
            {"kind": "local", "name": "debian-reference", "path": str(reference), **html},
            {"kind": "local", "name": "debian-faq", "path": str(faq), **html},
        ],
        "splits": {"test_sources": ["debian-faq"]},
    }
    if max_steps:
        config["training"] = {"max_steps": max_steps}
    work.mkdir(parents=True, exist_ok=True)
    path = work / "embedloop.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    load_settings(path)
    return path


def report(meta: dict[str, Any]) -> None:
    evaluation = meta["embedding_evaluation"]
    by_set = evaluation["ndcg@10_by_set"]
    print("\n| set | n | dim | base | incumbent | candidate | change vs incumbent |")
    print("|---|---|---|---|---|---|---|")
    for name, entry in by_set.items():
        for dim, values in entry["by_dim"].items():
            change = values["candidate"] - values["incumbent"]
            print(
                f"| {name} | {entry['n']} | {dim} | {values['base']:.4f} | "
                f"{values['incumbent']:.4f} | {values['candidate']:.4f} | {change:+.4f} |"
            )
    print(f"\nprimary set: {evaluation['primary_set']}")
    print(f"gate: {evaluation['stage']}: {evaluation['reason']}")
    train = meta.get("finetuned_embedding_model", {})
    print(f"training: {train.get('duration_s')} s, {train.get('samples_per_s')} samples/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-steps", type=int, default=None, help="default: the time budget")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="embedloop-heldout-"))
    config = write_config(work, args.max_steps)
    run = timed_graph(config)
    print_steps("the whole graph (no Argilla assets)", run)
    sets = run["meta"]["evaluation_sets"]
    print(f"\nevaluation sets, by source:\n{sets['by_source']}")
    print(f"mean relevant chunks per query: {sets['mean_relevant_chunks']}")
    report(run["meta"])


if __name__ == "__main__":
    main()
