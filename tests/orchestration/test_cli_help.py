"""`embedloop --help` tells a newcomer what each command does and what each argument means."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata

from orchestration.cli import _parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_command_has_a_description_and_every_argument_help() -> None:
    commands = _commands()
    assert {"run", "export-model", "evaluate", "lineage", "rollback", "search"} <= set(commands)
    undescribed = [name for name, p in commands.items() if not p.description]
    unhelped = [
        f"{name} {a.dest}"
        for name, p in commands.items()
        for a in p._actions
        if not isinstance(a, argparse._HelpAction) and not a.help
    ]
    assert not undescribed and not unhelped, (undescribed, unhelped)


def test_version_prints_the_installed_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"embedloop {metadata.version('embedloop')}"
