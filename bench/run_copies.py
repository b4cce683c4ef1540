"""Copies of a finished real-question bench run, to retrain with one setting changed.

A bench run (``bench.debian_faq_bench``, ``bench.gitfaq_bench``) leaves a work dir with the
ingested corpus, the training data, the question file and a ZenML store. Retraining a copy
with one override (``training.init``, ``training.precision``) compares settings on the same
data, the same start and the same questions, without generating anything again.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from bench.real_questions import Bench, apply_overrides

SETUPS = {"debian-faq": "bench.debian_faq_bench", "gitfaq": "bench.gitfaq_bench"}


def bench_of(name: str, work: Path) -> Bench:
    """The bench ``name`` (a key of ``SETUPS``) over the work dir ``work``."""
    setup = importlib.import_module(SETUPS[name]).setup
    source, pages, questions = setup(work)
    return Bench(name, work, source, pages, questions, in_corpus=True)


def copy_run(source: Path, tag: str, overrides: list[str]) -> Path:
    """``source`` copied to ``<source>-<tag>`` (replacing an earlier copy), its training
    config pointed at the copy and given ``overrides``; the copy's work dir."""
    work = source.parent / f"{source.name}-{tag}"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(source, work, symlinks=True)
    # The copied configs still point at the source's data dir: point them at the copy.
    config = work / "train" / "embedloop.yaml"
    config.write_text(config.read_text().replace(str(source), str(work)))
    apply_overrides(config, overrides)
    return work
