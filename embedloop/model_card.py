"""The model card `embedloop export-model` writes beside an exported model (README.md).

A team that takes the model away should know what it is without our ZenML store: the
base model it started from, the data it was trained on (the snapshot hash and counts),
how it scored (nDCG@10 per evaluation set and Matryoshka dim, with the gate's bootstrap
interval of the gain), and where to look it up (the ZenML model version, the ZenML
release, the Dagster run). Built from the metadata the training steps log on the ZenML
model version (``training/steps.py``); plain Python, so it is tested without ZenML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PRIMARY = "ndcg@10"


@dataclass(frozen=True)
class CardFacts:
    model_name: str
    version: int
    stage: str
    base_model: str
    zenml_version: str
    metadata: Mapping[str, Any] = field(default_factory=dict)  # the version's run metadata
    extra_files: tuple[str, ...] = ()  # e.g. "openvino/openvino_model.xml"


def _fmt(value: Any, digits: int = 4) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "—"


def _flat(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in sorted(values.items()):
        if isinstance(value, Mapping):
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _score_rows(evaluation: Mapping[str, Any]) -> list[str]:
    rows = []
    for name, entry in sorted(evaluation.get("sets", {}).items()):
        interval = entry.get("interval") or {}
        bounds = f"[{_fmt(interval.get('low'))}, {_fmt(interval.get('high'))}]"
        candidate = entry.get("candidate") or {}
        for dim in sorted(candidate, key=int, reverse=True):
            base = (entry.get("base") or {}).get(dim, {})
            incumbent = (entry.get("incumbent") or {}).get(dim, {})
            native = int(dim) == int(evaluation.get("native_dim", -1))
            rows.append(
                f"| {name} | {entry.get('n', '—')} | {dim} | "
                f"{_fmt(candidate[dim].get(PRIMARY))} | {_fmt(base.get(PRIMARY))} | "
                f"{_fmt(incumbent.get(PRIMARY))} | {bounds if native else ''} |"
            )
    return rows


def render_model_card(facts: CardFacts) -> str:
    """The card as Markdown, with a YAML header the Hugging Face Hub understands."""
    meta = facts.metadata
    promotion = meta.get("promotion") or {}
    lines = [
        "---",
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        f"base_model: {facts.base_model}",
        "tags: [sentence-transformers, embedloop, retrieval]",
        "---",
        "",
        f"# {facts.model_name} version {facts.version}",
        "",
        f"Fine-tuned from `{facts.base_model}` on a team's documentation by embedloop. "
        f"Stage: **{facts.stage}**.",
        "",
        "## Use",
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        'model = SentenceTransformer("path/to/this/folder")',
        'queries = model.encode_query(["how do I ...?"])',
        "passages = model.encode_document(chunks)",
        "```",
        "",
        "Encode questions with `encode_query` and passages with `encode_document`: that is how",
        "the scores below were measured. Cosine similarity; Matryoshka dims below the native",
        "one work by truncating and re-normalizing.",
        "",
        *_evaluation_section(meta.get("evaluation") or {}, promotion),
        "## Training data",
        "",
        "| snapshot | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in _flat(meta.get("data_snapshot") or {})),
        "",
        "## Provenance",
        "",
        "| | |",
        "|---|---|",
        f"| ZenML model | {facts.model_name} version {facts.version} |",
        f"| ZenML | {facts.zenml_version} |",
        f"| Dagster run | {meta.get('dagster_run_id') or promotion.get('dagster_run_id') or '—'} |",
        f"| test set hash | {promotion.get('test_set_hash', '—')} |",
    ]
    if facts.extra_files:
        lines += ["", "## Also in this folder", ""]
        lines += [f"- `{name}`" for name in facts.extra_files]
    return "\n".join(lines) + "\n"


def _evaluation_section(evaluation: Mapping[str, Any], promotion: Mapping[str, Any]) -> list[str]:
    primary = evaluation.get("primary_set", promotion.get("primary_set", "—"))
    compared = evaluation.get("incumbent_source", "—")
    return [
        "## Evaluation (nDCG@10)",
        "",
        f"Primary set for the gate: `{primary}`; compared with {compared}. Interval: the paired",
        "bootstrap interval of this model's gain over that model at the native dim.",
        "",
        "| set | queries | dim | this model | base | compared with | gain interval |",
        "|---|---|---|---|---|---|---|",
        *(_score_rows(evaluation) or ["| — | — | — | — | — | — | — |"]),
        "",
        f"Gate: {promotion.get('reason', 'not evaluated')}",
        "",
    ]
