"""Public functions of training/ and embedloop/evaluation/ say what they do, and the ZenML
steps and pipelines (shown in ZenML's dashboard) say it in Google style."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = [*(ROOT / "training").glob("*.py"), *(ROOT / "embedloop" / "evaluation").glob("*.py")]
GOOGLE = [ROOT / "training" / "steps.py", ROOT / "training" / "pipelines.py"]


def _public_functions(path: Path) -> list[ast.FunctionDef]:
    tree = ast.parse(path.read_text())
    return [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]


def test_every_public_function_has_a_docstring() -> None:
    assert len(DOCUMENTED) > 20
    missing = [
        f"{p.relative_to(ROOT)}:{f.name}"
        for p in DOCUMENTED
        for f in _public_functions(p)
        if not ast.get_docstring(f)
    ]
    assert not missing


def test_steps_and_pipelines_document_their_arguments() -> None:
    incomplete = []
    for path in GOOGLE:
        for f in _public_functions(path):
            doc = ast.get_docstring(f) or ""
            params = [a.arg for a in f.args.args]
            if params and ("Args:" not in doc or any(f"{p}:" not in doc for p in params)):
                incomplete.append(f"{path.name}:{f.name}")
    assert not incomplete
