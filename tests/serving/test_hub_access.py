"""Hugging Face Hub access only where asked: ``model.offline`` or ``$HF_HUB_OFFLINE``; a
hub id that cannot be had is one clear line, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from embedloop.config import parse_settings
from embedloop.models import ModelNotFound, hub_offline, load_sentence_transformer
from orchestration.cli import main

MISSING = "embedloop-tests/no-such-model"


def test_an_uncached_hub_id_offline_says_why() -> None:
    with pytest.raises(ModelNotFound) as err:
        load_sentence_transformer(MISSING, "cpu", offline=True)
    message = str(err.value)
    assert MISSING in message and "not a local directory" in message
    assert "not in the local Hugging Face cache" in message and "model.offline" in message


def test_a_local_folder_loads_offline(base_path: str) -> None:
    model = load_sentence_transformer(base_path, "cpu", offline=True)
    assert model.get_embedding_dimension() == 384


def test_offline_comes_from_the_config_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert not hub_offline(parse_settings({}))
    assert hub_offline(parse_settings({"model": {"offline": True}}))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_offline(parse_settings({})) and hub_offline()


@pytest.mark.parametrize("offline", [False, True])
def test_the_cli_sets_hf_hub_offline_only_when_the_config_asks(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    offline: bool,
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("EMBEDLOOP_INDEX_URL", raising=False)
    config = tmp_path / "embedloop.yaml"
    raw = {"data_dir": str(tmp_path / "data"), "model": {"offline": offline}}
    config.write_text(yaml.safe_dump(raw))
    assert main(["--config", str(config), "search", "anything"]) == 2  # no index yet
    assert "no production index yet" in capsys.readouterr().err
    assert (os.environ.get("HF_HUB_OFFLINE") == "1") is offline
