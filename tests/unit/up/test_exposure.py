"""make run and auth: loopback without auth is fine; other machines need auth or an explicit yes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.common.auth import AuthSettings
from services.up.banner import render_banner
from services.up.exposure import auth_line, check_exposure
from services.up.plan import build_plan
from services.up.settings import UpSettings

AUTH_ON = AuthSettings(auth_tokens={"dev-admin": "admin"})
AUTH_OFF = AuthSettings()


def _up(**values: object) -> UpSettings:
    return UpSettings.model_validate(values)


def test_loopback_needs_no_auth_and_the_banner_says_auth_is_off(tmp_path: Path) -> None:
    settings = _up(data_dir=tmp_path)
    check_exposure(settings, AUTH_OFF)
    line = auth_line(settings, AUTH_OFF)
    assert line.startswith("Auth: off (loopback only")
    plan = build_plan(settings, redis_server="redis-server", available=lambda m: True)
    assert f"Data: {plan.data_dir}\n{line}\n" in render_banner(plan, auth=line)


@pytest.mark.parametrize("field", ["command_address", "query_address", "broadcaster_address"])
@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "[::]"])
def test_a_service_other_machines_reach_needs_auth(field: str, host: str) -> None:
    settings = _up(**{field: f"{host}:5000"})
    variable = re.escape(f"ROVER_{field.upper()}={host}:5000")
    with pytest.raises(ValueError, match=variable) as refused:
        check_exposure(settings, AUTH_OFF)
    assert "ROVER_ALLOW_INSECURE_NON_LOOPBACK=true" in str(refused.value)
    check_exposure(settings, AUTH_ON)
    assert auth_line(settings, AUTH_ON).startswith("Auth: on: 1 static token(s)")
    allowed = _up(**{field: f"{host}:5000", "allow_insecure_non_loopback": True})
    check_exposure(allowed, AUTH_OFF)
    assert auth_line(allowed, AUTH_OFF).startswith("Auth: OFF on addresses other machines reach")


def test_the_event_store_stand_in_has_no_auth_so_auth_does_not_cover_it() -> None:
    settings = _up(eventstore_host="0.0.0.0")
    with pytest.raises(ValueError, match=re.escape("ROVER_EVENTSTORE_HOST=0.0.0.0")):
        check_exposure(settings, AUTH_ON)
    check_exposure(_up(eventstore_host="0.0.0.0", allow_insecure_non_loopback=True), AUTH_ON)
