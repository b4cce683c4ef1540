"""``training.precision``: bf16 autocast only where the hardware has it, float32 weights
always, and a NaN loss that stops the run instead of reaching the gate.

This CPU may lack bf16: the capability check is forced off through its environment switch
or fed a real cpuinfo file, and the bf16 run uses the emulated path the benchmark's
``--force`` takes (PyTorch computes bf16 on any CPU, only slowly). The runs are real
finetunes of the base model on a dozen pairs, one to three steps each.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors import safe_open

from embedloop.config import Settings
from embedloop.models import pick_device
from training import precision as precision_module
from training.export import export_model
from training.finetune import finetune
from training.precision import (
    EMULATED_BF16_ENV,
    NO_BF16_ENV,
    NonFiniteLoss,
    PrecisionUnavailable,
    cpu_has_bf16,
    resolve_precision,
)

TINY = {"batch_size": 4, "max_seq_length": 16, "max_minutes": None, "warmup_ratio": 0}


def _tiny_pairs() -> tuple[pd.DataFrame, pd.DataFrame]:
    topics = [f"topic {i} explains the setting number {i} of the tool" for i in range(12)]
    chunks = pd.DataFrame({"chunk_id": [f"c{i}" for i in range(12)], "text": topics})
    pairs = pd.DataFrame(
        {"query": [f"what does setting {i} do" for i in range(12)], "positive": topics}
    ).assign(chunk_id=chunks["chunk_id"], negative=None)
    return pairs, chunks


def _finetune(training: dict, **model: str):
    pairs, chunks = _tiny_pairs()
    settings = Settings.model_validate({"training": {**TINY, **training}, "model": model})
    return finetune(settings, pairs, pairs.iloc[0:0], chunks)


def test_auto_follows_the_cpu_and_falls_back_to_fp32_without_bf16(monkeypatch) -> None:
    auto = resolve_precision("auto", "cpu")
    assert auto.name == ("bf16" if cpu_has_bf16() else "fp32")
    monkeypatch.setenv(NO_BF16_ENV, "1")
    assert not cpu_has_bf16()
    fallback = resolve_precision("auto", "cpu")
    assert fallback.name == "fp32" and fallback.trainer_flags()["bf16"] is False
    assert fallback.as_metadata() == {
        "precision": "fp32",
        "precision_reason": "training.precision auto: the CPU has no AVX512-BF16 or AMX "
        "(bf16 would be emulated, slower than fp32)",
    }
    assert resolve_precision("fp32", "cpu").name == "fp32"
    assert resolve_precision("auto", "mps").name == "fp32"


def test_a_cpu_whose_flags_name_bf16_trains_in_bf16_under_auto(monkeypatch, tmp_path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    monkeypatch.setattr(precision_module, "CPUINFO", cpuinfo)
    chosen = resolve_precision("auto", "cpu")
    assert chosen.name == "bf16" and chosen.trainer_flags()["bf16"] is True
    assert "AVX512-BF16 or AMX" in chosen.reason
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n")
    assert cpu_has_bf16() == any(
        getattr(torch.cpu, probe)()
        for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )


@pytest.mark.skipif(pick_device() != "cpu", reason="finetune() trains on a GPU here")
def test_bf16_on_a_cpu_without_it_fails_before_loading_anything(monkeypatch) -> None:
    monkeypatch.setenv(NO_BF16_ENV, "1")
    # A base model that does not exist: failing on it would mean training had begun.
    with pytest.raises(PrecisionUnavailable) as failure:
        _finetune({"precision": "bf16", "max_steps": 1}, base_model="/nonexistent/model")
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("training.precision bf16: the CPU has no AVX512-BF16 or AMX")


def test_a_bf16_run_autocasts_and_exports_float32_weights(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(EMULATED_BF16_ENV, "1")  # native on a bf16 CPU, emulated elsewhere
    seen: set[torch.dtype] = set()

    def record(module: torch.nn.Module, inputs: object, output: object) -> None:
        if module.training and isinstance(module, torch.nn.Linear):
            seen.add(output.dtype)  # type: ignore[attr-defined]

    hook = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        result = _finetune({"precision": "bf16", "max_steps": 1})
    finally:
        hook.remove()
    assert seen == {torch.bfloat16}  # the training forward passes ran under autocast
    assert result.hyperparameters["precision"] == "bf16"
    assert result.hyperparameters["bf16"] is True
    assert {p.dtype for p in result.model.parameters()} == {torch.float32}
    exported = export_model(result.model, tmp_path / "model", {"version": 1})
    files = list(Path(exported).rglob("*.safetensors"))
    assert files
    for file in files:
        with safe_open(str(file), "pt") as weights:
            names = weights.keys()  # a safetensors handle: not iterable itself
            assert {weights.get_slice(name).get_dtype() for name in names} == {"F32"}


def test_a_nan_loss_stops_the_run_naming_the_step() -> None:
    # A learning rate of 1e30 takes the weights to about 1e30 in one step; the second
    # forward pass overflows and its loss is NaN (the trainer would only log the average).
    with pytest.raises(NonFiniteLoss) as failure:
        _finetune({"precision": "fp32", "max_steps": 3, "learning_rate": 1e30})
    assert failure.value.step == 2
    assert "at step 2 (fp32)" in str(failure.value)


def test_bf16_on_short_texts_embeds_larger_mini_batches() -> None:
    from sentence_transformers import SentenceTransformer

    from training.finetune import build_loss

    settings = Settings.model_validate({"training": {"batch_size": 32}})
    model = SentenceTransformer(settings.model.resolved_base_model(), device="cpu")
    sizes = {}
    for seq, precision in [(128, "bf16"), (128, "fp32"), (256, "bf16")]:
        model.max_seq_length = seq
        _, inner = build_loss(model, settings, [384], "cpu", precision)
        sizes[(seq, precision)] = inner.mini_batch_size
    assert sizes == {(128, "bf16"): 16, (128, "fp32"): 8, (256, "bf16"): 8}
