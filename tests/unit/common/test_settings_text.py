"""Settings shown to people: names derived once, errors name the variable, help lists all."""

from __future__ import annotations

import pytest
from pydantic import Field

from services.common.settings import ServiceSettings
from services.common.settings_text import (
    SettingsError,
    env_name,
    load_settings,
    settings_help,
)


class _Sample(ServiceSettings):
    """A settings class for these tests."""

    cli_timeout_seconds: float = Field(default=10.0, gt=0, description="Per call deadline.")
    groups: list[str] = Field(default_factory=lambda: ["downstream"], description="Groups.")


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROVER_CLI_TIMEOUT_SECONDS", "abc")
    with pytest.raises(SettingsError) as caught:
        load_settings(_Sample)
    message = str(caught.value)
    assert message.startswith("ROVER_CLI_TIMEOUT_SECONDS='abc': ")
    assert "cli_timeout_seconds" not in message


def test_every_bad_value_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROVER_CLI_TIMEOUT_SECONDS", "-1")
    monkeypatch.setenv("ROVER_LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError) as caught:
        load_settings(_Sample)
    lines = str(caught.value).splitlines()
    assert sorted(line.split("=", 1)[0] for line in lines) == [
        "ROVER_CLI_TIMEOUT_SECONDS",
        "ROVER_LOG_LEVEL",
    ]


def test_good_values_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROVER_CLI_TIMEOUT_SECONDS", "2.5")
    assert load_settings(_Sample).cli_timeout_seconds == 2.5


def test_help_lists_every_variable_with_its_default() -> None:
    text = settings_help(_Sample)
    for field in _Sample.model_fields:
        assert env_name(_Sample, field) in text
    assert "ROVER_CLI_TIMEOUT_SECONDS (default: 10.0)" in text
    assert "ROVER_GROUPS (default: ['downstream'])" in text
    assert "Per call deadline." in text
