"""The house rules: layers that import only downwards, and modules a person can read.

The layers are import-linter contracts in pyproject.toml; `lint-imports` checks them here
and in `make lint`. The second test proves they bite: a copy of the tree with one upward
import must fail them.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["embedloop", "training", "quality", "assets", "orchestration", "services"]
# Test and benchmark modules stay readable too: both rules apply to them, except to test
# functions (``test_*`` in tests/), which may spell a whole scenario out.
TEST_PACKAGES = ["tests", "bench"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Longer than the rule, and why (none today).
LONG_MODULES: set[str] = set()
LONG_FUNCTIONS: set[str] = set()


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layer_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("embedloop/upward.py", "import orchestration.cli\n", "embedloop (core) BROKEN"),
        ("embedloop/engine.py", "import dagster\n", "no Dagster, no ZenML BROKEN"),
        ("training/upward.py", "import assets.training\n", "embedloop (core) BROKEN"),
        ("quality/sideways.py", "import training.runner\n", "embedloop (core) BROKEN"),
        ("assets/measured.py", "import bench.common\n", "not the reverse) BROKEN"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    for package in [*PACKAGES, "bench"]:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns(".venv", "*.pyc")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / module).write_text(line)
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert contract in result.stdout, result.stdout


def _python_files(packages: list[str] = PACKAGES + TEST_PACKAGES) -> list[Path]:
    return sorted(
        p for package in packages for p in (ROOT / package).rglob("*.py") if ".venv" not in p.parts
    )


def _held_to_length(path: Path, name: str) -> bool:
    return not (path.relative_to(ROOT).parts[0] == "tests" and name.startswith("test_"))


def test_the_rules_read_every_package() -> None:
    read = {p.relative_to(ROOT).parts[0] for p in _python_files()}
    assert read == set(PACKAGES + TEST_PACKAGES)
    assert ROOT / "bench" / "training_bench.py" in _python_files()


def test_modules_stay_small() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _python_files()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert set(long) <= LONG_MODULES, long


def test_functions_stay_short() -> None:
    long = {}
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES and _held_to_length(path, node.name):
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    assert set(long) <= LONG_FUNCTIONS, long


def test_no_test_module_imports_another() -> None:
    """Shared code lives in tests/helpers or a folder's conftest.py, never in a test module."""
    imports = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            imports += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                if n.startswith("tests.") and n.rsplit(".", 1)[-1].startswith("test_")
            ]
    assert not imports
    assert (ROOT / "tests" / "helpers" / "config.py").is_file()
