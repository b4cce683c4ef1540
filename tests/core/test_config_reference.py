"""The configuration is described once: in the settings' ``Field(description=...)``.

docs/configuration.md is rendered from them (``make docs``); it must be what the code says
today, and every setting must say what it does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from embedloop import automation_config, config, review_config, source_config, training_config
from embedloop.config import ConfigError, parse_settings
from embedloop.config_reference import render

ROOT = Path(__file__).resolve().parents[2]
# The modules whose settings this rule covers (serving_config follows on its own).
DESCRIBED = (config, automation_config, review_config, source_config, training_config)


def test_the_committed_reference_is_what_the_settings_say() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/configuration.md is stale: run `make docs`"


def _models() -> list[type[BaseModel]]:
    return [
        value
        for module in DESCRIBED
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
        and value.model_fields
    ]


def test_every_setting_has_a_description() -> None:
    models = _models()
    assert config.Settings in models and training_config.TrainingSettings in models
    missing = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if name != "kind" and not field.description
    ]
    assert not missing


def test_the_reference_names_every_section_and_key() -> None:
    text = render()
    for section in ("## training", "## synthetic.llm", "### kind: git", "## automation"):
        assert section in text
    assert "| `base_weight_choices` | `[0.0, 0.25, 0.5, 0.75]` |" in text
    assert "| `max_tokens` | `null` |" in text


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ({"chunking": {"max_token": 100}}, "chunking.max_token: Extra inputs are not permitted "
         "(did you mean 'max_tokens'?)"),
        ({"trainig": {}}, "trainig: Extra inputs are not permitted (did you mean 'training'?)"),
        ({"sources": [{"kind": "git", "name": "d", "url": "https://h/r.git", "subpth": "d"}]},
         "(did you mean 'subpath'?)"),
        ({"synthetic": {"llm": {"concurency": 2}}}, "(did you mean 'concurrency'?)"),
    ],
)  # fmt: skip
def test_an_unknown_key_gets_the_closest_valid_one(raw: dict, hint: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(raw)
    assert hint in str(err.value)


def test_a_key_like_no_other_gets_no_guess() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"xyzzy": 1})
    assert "xyzzy: Extra inputs are not permitted" in str(err.value)
    assert "did you mean" not in str(err.value)
