"""Inference backends for the embedding model, behind one config key (``model.backend``).

sentence-transformers' own ONNX/OpenVINO backends need optimum, which does not install
beside the transformers release this project pins. So the backends here swap only the
transformer inside an otherwise ordinary ``SentenceTransformer``: tokenization, pooling and
normalization stay sentence-transformers' own, and every caller keeps calling ``encode``.

- ``torch``: the model as trained.
- ``openvino``: the Hugging Face module converted with ``openvino.convert_model`` and
  compiled for the CPU. Same float32 weights and graph, so the same vectors (cosine to torch
  above 0.9999) at a lower cost per token. The converted IR is kept in a cache directory.
  Compiled in float32 explicitly: OpenVINO's CPU plugin otherwise computes in bf16 by
  itself on a CPU with AVX512-BF16 or AMX, so the vectors (and an index's vector space)
  would depend on the machine that encoded them.
- ``torch-int8``: ``torch.ao.quantization.quantize_dynamic`` on the Linear layers. Faster
  still, but lossy (mean cosine to torch about 0.93 on MiniLM): offered, never the default.
- ``auto``: ``openvino`` on the CPU when it is installed, else ``torch``; ``torch`` on a GPU.

Training always uses torch; the backend is for inference (mining, review vectors, search,
evaluation). Vectors are cached per model *and* backend (``encoder_key``), since a lossy
backend's vectors are not the torch ones.
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import torch

from embedloop.config import ModelBackend

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# The one list of backends is the ``model.backend`` setting's type in embedloop.config.
BACKENDS: tuple[str, ...] = get_args(ModelBackend)
# Backends that replace the torch module; they run on the CPU only.
CPU_BACKENDS = ("openvino", "torch-int8")


def resolve_backend(backend: str, device: str) -> str:
    """The backend that will actually run: ``auto`` and CPU-only backends off the CPU."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown model backend {backend!r}: one of {', '.join(BACKENDS)}")
    if device != "cpu":
        return "torch"  # the GPU is faster than either CPU backend, and they cannot use it
    if backend == "auto":
        return "openvino" if importlib.util.find_spec("openvino") else "torch"
    return backend


def encoder_key(weights_key: str, backend: str) -> str:
    """Cache key of the vectors a model gives under a backend (torch keeps the bare key)."""
    return weights_key if backend == "torch" else f"{weights_key}+{backend}"


def with_backend(
    model: SentenceTransformer,
    backend: str,
    cache_dir: Path | None = None,
    inplace: bool = False,
) -> SentenceTransformer:
    """``model`` itself for torch, else a copy (or ``model``, ``inplace``) whose
    transformer runs on ``backend``: for inference only.

    ``backend`` must be resolved (``resolve_backend``).
    """
    if backend == "torch":
        return model
    if backend not in CPU_BACKENDS:
        raise ValueError(f"backend {backend!r} is not a resolved backend")
    if str(model.device) != "cpu":
        raise ValueError(f"backend {backend} runs on the CPU, the model is on {model.device}")
    converted = (model if inplace else copy.deepcopy(model)).eval()
    module = converted[0]
    if backend == "torch-int8":
        module.model = torch.ao.quantization.quantize_dynamic(
            module.model, {torch.nn.Linear}, dtype=torch.qint8
        )
    else:
        module.model = OpenVINOTransformer(module.model, cache_dir)
    return converted


# What a text is to the model: a query people type, or a passage (chunk) it is matched to.
Role = Literal["query", "document"]


def encode(model: Any, texts: Sequence[str], batch_size: int = 64, *, role: Role) -> np.ndarray:
    """L2-normalized float32 embeddings, (len(texts), dim): the pipeline's one encode call.

    Queries go through ``encode_query``, passages through ``encode_document``, as the
    evaluation (and sentence-transformers' evaluators) encode them: for a model with query
    and passage prompts (e5, bge, nomic) mining, review vectors, search and the index then
    use the vectors the promotion gate measured. Without prompts both equal ``encode``.
    """
    if role not in ("query", "document"):
        raise ValueError(f"role must be 'query' or 'document', not {role!r}")
    method = model.encode_query if role == "query" else model.encode_document
    vectors = method(
        list(texts),
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)


class OpenVINOTransformer(torch.nn.Module):
    """A Hugging Face encoder compiled by OpenVINO, called like the torch module it replaces.

    Returns ``{"last_hidden_state": tensor}``, which is all the sentence-transformers
    ``Transformer`` module reads from its model for text. Inference only.
    """

    def __init__(
        self, hf_model: Any, cache_dir: Path | None = None, precision: str = "f32"
    ) -> None:
        import openvino as ov

        super().__init__()
        self.config = hf_model.config
        self.input_names = ("input_ids", "attention_mask", "token_type_ids")
        ir = _ir_path(hf_model, cache_dir)
        if ir is not None and ir.is_file():
            graph = ov.Core().read_model(str(ir))
        else:
            graph = _convert(hf_model)
            if ir is not None:
                ir.parent.mkdir(parents=True, exist_ok=True)
                # save_model would store float16 weights by default: keep torch's float32.
                ov.save_model(graph, str(ir), compress_to_fp16=False)
        # precision: "f32" everywhere the product encodes; "bf16" only for measuring it.
        config = {"INFERENCE_PRECISION_HINT": precision}
        self.compiled = ov.Core().compile_model(graph, "CPU", config)
        self.input_names = tuple(i.get_any_name() for i in self.compiled.inputs)

    def forward(self, **features: Any) -> dict[str, Any]:
        inputs = {name: features[name].numpy() for name in self.input_names if name in features}
        if "token_type_ids" in self.input_names and "token_type_ids" not in inputs:
            inputs["token_type_ids"] = np.zeros_like(inputs["input_ids"])
        hidden = self.compiled(inputs)[0]
        return {"last_hidden_state": torch.from_numpy(np.asarray(hidden, dtype=np.float32))}


def _convert(hf_model: Any) -> Any:
    """The torch graph traced into OpenVINO, with dynamic batch and sequence lengths."""
    import openvino as ov

    example = {
        "input_ids": torch.ones((2, 8), dtype=torch.long),
        "attention_mask": torch.ones((2, 8), dtype=torch.long),
    }
    if "token_type_ids" in _forward_params(hf_model):
        example["token_type_ids"] = torch.zeros((2, 8), dtype=torch.long)
    with torch.no_grad(), _no_telemetry():
        return ov.convert_model(hf_model.eval(), example_input=example)


def convert_to_openvino(hf_model: Any) -> Any:
    """A Hugging Face encoder as an OpenVINO model (``openvino.save_model`` writes it):
    the graph the ``openvino`` backend runs, for `embedloop export-model --openvino`."""
    return _convert(hf_model)


@contextmanager
def _no_telemetry() -> Iterator[None]:
    """convert_model reports usage to Intel's analytics unless the user opted out with
    openvino's own tool; a pipeline converting a team's private model never does."""
    from openvino.tools.ovc import convert_impl, telemetry_stub, telemetry_utils

    modules = [m for m in (convert_impl, telemetry_utils) if hasattr(m, "tm")]
    saved = [m.tm for m in modules]
    for module in modules:
        module.tm = telemetry_stub
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            module.tm = original


def _forward_params(hf_model: Any) -> set[str]:
    import inspect

    return set(inspect.signature(hf_model.forward).parameters)


def _ir_path(hf_model: Any, cache_dir: Path | None) -> Path | None:
    """Where the converted graph of these weights is kept: keyed by a hash of the weights."""
    if cache_dir is None:
        return None
    import hashlib

    import openvino as ov

    digest = hashlib.sha256(f"{ov.__version__} float32".encode())
    for name, tensor in sorted(hf_model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes()[:4096])
        digest.update(str(tuple(tensor.shape)).encode())
    return Path(cache_dir) / "openvino" / digest.hexdigest()[:20] / "model.xml"
