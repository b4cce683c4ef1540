"""Which number format training computes in, and the faults that come with a lower one.

``training.precision`` (auto | fp32 | bf16) decides whether the forward and backward passes
run under bf16 autocast. Autocast, not ``model.to(bfloat16)``: the weights the optimizer
updates stay float32, so the exported model is float32 whatever the run used. ``auto``
takes bf16 only where the hardware computes it natively: a CUDA GPU that supports it
(Ampere and later; older GPUs keep fp16 with loss scaling, as before this setting existed)
or a CPU with AVX512-BF16 or AMX. Elsewhere PyTorch emulates bf16 on the CPU, which is
slower than float32, so ``auto`` stays float32 and ``bf16`` refuses to start, in one line,
before any model is loaded.

A lower precision can overflow into an infinite or NaN loss, and the stock trainer hides
that: ``logging_nan_inf_filter`` logs the average loss instead while the NaN gradients
still reach the weights, so a broken model would be exported and judged by the gate.
``GuardedTrainer`` stops the run at the first non-finite loss, naming the step, before the
optimizer applies it: the step fails, nothing of the run is exported or evaluated, and
production stays the last good model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformerTrainer

# "1" makes cpu_has_bf16() answer False: how a run (or a test) behaves on a CPU without bf16.
NO_BF16_ENV = "EMBEDLOOP_FORCE_NO_BF16"
# "1" lets training.precision bf16 run emulated on a CPU without it (benchmarks, tests).
EMULATED_BF16_ENV = "EMBEDLOOP_ALLOW_EMULATED_BF16"
# /proc/cpuinfo flags of native bf16 arithmetic (Intel Cooper Lake, Sapphire Rapids; AMD Zen 4).
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


class PrecisionUnavailable(RuntimeError):
    """``training.precision`` asks for a format this machine cannot train in."""


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite; the run stops before applying it."""

    def __init__(self, step: int, loss: float, precision: str) -> None:
        self.step, self.loss, self.precision = step, loss, precision
        super().__init__(
            f"training stopped: the loss is {loss} at step {step} ({precision}); the weights "
            "were not updated with it, and nothing of this run is exported or evaluated"
        )


def _cpuinfo_flags() -> set[str]:
    try:
        text = CPUINFO.read_text()
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), per torch or the kernel.

    ``torch.backends.cpu.get_cpu_capability()`` names the vector width only ("AVX2",
    "AVX512"), not bf16 support, so this asks torch's own feature probes and /proc/cpuinfo.
    ``$EMBEDLOOP_FORCE_NO_BF16=1`` answers False.
    """
    if os.environ.get(NO_BF16_ENV, "") == "1":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if any(getattr(torch.cpu, probe, lambda: False)() for probe in probes):
        return True
    return bool(CPU_BF16_FLAGS & _cpuinfo_flags())


@dataclass(frozen=True)
class Precision:
    """The format a run trains in (fp32, bf16 or fp16) and why it was chosen."""

    name: str
    reason: str
    tf32: bool | None = None  # None leaves PyTorch's setting alone (no CUDA flags on a CPU)

    def trainer_flags(self) -> dict[str, bool | None]:
        """The mixed-precision arguments of the HF trainer."""
        return {"fp16": self.name == "fp16", "bf16": self.name == "bf16", "tf32": self.tf32}

    def as_metadata(self) -> dict[str, Any]:
        return {"precision": self.name, "precision_reason": self.reason}


def resolve_precision(setting: str, device: str) -> Precision:
    """The precision ``training.precision`` means on ``device``.

    Raises:
        PrecisionUnavailable: ``bf16`` where the device has no native bf16.
    """
    if setting == "fp32":
        # Full float32 matmuls too: TF32 off on CUDA.
        return Precision(
            "fp32", "training.precision fp32", tf32=False if device == "cuda" else None
        )
    if device == "cuda":
        return _cuda_precision(setting)
    if device == "cpu" and cpu_has_bf16():
        return Precision("bf16", f"training.precision {setting}: the CPU has AVX512-BF16 or AMX")
    if device == "cpu" and setting == "bf16" and os.environ.get(EMULATED_BF16_ENV, "") == "1":
        return Precision("bf16", f"training.precision bf16 emulated (${EMULATED_BF16_ENV}=1)")
    missing = (
        "the CPU has no AVX512-BF16 or AMX (bf16 would be emulated, slower than fp32)"
        if device == "cpu"
        else f"bf16 autocast is used on CUDA and bf16 CPUs only, not on {device}"
    )
    if setting == "bf16":
        raise PrecisionUnavailable(f"training.precision bf16: {missing}; use auto or fp32")
    return Precision("fp32", f"training.precision auto: {missing}")


def _cuda_precision(setting: str) -> Precision:
    major, minor = torch.cuda.get_device_capability()
    ampere = major >= 8
    name = f"{torch.cuda.get_device_name()} (compute capability {major}.{minor})"
    if ampere and torch.cuda.is_bf16_supported():
        return Precision("bf16", f"training.precision {setting}: {name} supports bf16", tf32=True)
    if setting == "bf16":
        raise PrecisionUnavailable(f"training.precision bf16: {name} has no bf16; use auto or fp32")
    return Precision("fp16", f"training.precision auto: {name} has no bf16: fp16", tf32=ampere)


class GuardedTrainer(SentenceTransformerTrainer):
    """The sentence-transformers trainer, stopped by the first NaN or infinite loss."""

    def training_step(
        self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> torch.Tensor:
        loss = super().training_step(model, inputs, num_items_in_batch)
        # The trainer reads this value back every step anyway (its NaN filter): no extra sync.
        if not bool(torch.isfinite(loss).all()):
            precision = "bf16" if self.args.bf16 else "fp16" if self.args.fp16 else "fp32"
            # global_step counts finished steps; this is the next one.
            raise NonFiniteLoss(self.state.global_step + 1, float(loss), precision)
        return loss
