"""make run-secure's plan: the store over TLS with users on, the services over TLS connecting
as the rover user, probes trusting the CA, tokens made unless auth is set, and the banner."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pydantic_settings import BaseSettings

from services.common.auth import AuthSettings
from services.common.settings_text import env_name
from services.up.banner import render_banner
from services.up.exposure import auth_line, check_exposure
from services.up.plan import build_plan
from services.up.secure import SERVICE_USER, prepare_secure
from services.up.settings import UpSettings
from services.web.settings import WebSettings


def _env_values(cls: type[BaseSettings], env: Mapping[str, str]) -> dict[str, str]:
    """The fields of ``cls`` that ``env`` sets, by field name (what the child would read)."""
    names = {env_name(cls, name): name for name in cls.model_fields}
    return {names[key]: value for key, value in env.items() if key in names}


def _settings(tmp_path: Path, **values: object) -> UpSettings:
    return UpSettings.model_validate({"data_dir": tmp_path / "data", "secure": True, **values})


def test_the_store_and_every_service_serve_tls_and_the_store_has_users(tmp_path: Path) -> None:
    secure = prepare_secure(tmp_path / "certs", AuthSettings())
    plan = build_plan(
        _settings(tmp_path, command_instances=2),
        redis_server="redis-server",
        available=lambda m: True,
        secure=secure,
    )
    store, redis, *services, web = plan.children
    assert web.name == "web"
    assert store.argv[-5:] == (
        "--tls-cert", str(secure.certs.server), "--tls-key", str(secure.certs.server_key), "--auth",
    )  # fmt: skip
    users = json.loads(store.env["ROVER_EVENTSTORE_USERS"])
    assert users[SERVICE_USER]["groups"] == []
    assert users["admin"]["groups"] == ["$admins"]
    assert "changeit" not in {user["password"] for user in users.values()}
    assert (store.probe_ca_file, redis.ca_file) == (str(secure.certs.ca), "")
    for child in services:
        uri = child.env["ROVER_EVENTSTORE_URI"]
        assert uri.startswith(f"esdb://{SERVICE_USER}:{users[SERVICE_USER]['password']}@")
        assert uri.endswith(f"?Tls=true&TlsCaFile={secure.certs.ca}")
        assert child.env["ROVER_TLS_CERT_FILE"] == str(secure.certs.server)
        assert json.loads(child.env["ROVER_AUTH_TOKENS"]) == dict(secure.tokens)
        # an instance's own (local socket) address is probed in plaintext, the shared one not
        assert child.probe_ca_file == ("" if child.instance_address else str(secure.certs.ca))
        # so that ROVER_TLS_CLIENT_CA_FILE (mutual TLS) leaves the services' probes working
        assert child.client_cert == (str(secure.certs.client), str(secure.certs.client_key))


def test_the_web_front_end_serves_https_and_dials_the_services_over_tls(tmp_path: Path) -> None:
    secure = prepare_secure(tmp_path / "certs", AuthSettings())
    settings = _settings(tmp_path, web_instances=2)
    plan = build_plan(settings, redis_server="r", available=lambda m: True, secure=secure)
    web = [child for child in plan.children if child.group == "web"]
    assert [child.name for child in web] == ["web-1", "web-2"]
    for child in web:
        # its readiness probe is HTTPS trusting the run's CA
        assert (child.probe, child.probe_ca_file) == ("http", str(secure.certs.ca))
        loaded = WebSettings.model_validate(_env_values(WebSettings, child.env))
        assert (loaded.tls_cert_file, loaded.tls_key_file) == (
            str(secure.certs.server), str(secure.certs.server_key),
        )  # fmt: skip
        assert loaded.tls_ca_file == str(secure.certs.ca)
        # presented only should the services ask for one (ROVER_TLS_CLIENT_CA_FILE)
        assert (loaded.tls_client_cert_file, loaded.tls_client_key_file) == (
            str(secure.certs.client), str(secure.certs.client_key),
        )  # fmt: skip
        assert loaded.channel_credentials() is not None
    banner = render_banner(plan)
    assert "web-1  https://127.0.0.1:8180/" in banner
    assert "web-2  https://127.0.0.1:8280/" in banner
    assert "http://127.0.0.1:8" not in banner


def test_without_secure_the_web_front_end_gets_no_tls(tmp_path: Path) -> None:
    settings = UpSettings.model_validate({"data_dir": tmp_path / "data"})
    plan = build_plan(settings, redis_server="r", available=lambda m: True)
    web = plan.children[-1]
    assert (web.name, web.probe_ca_file) == ("web", "")
    assert not any(name.startswith("ROVER_TLS_") for name in web.env)
    assert "  web          http://127.0.0.1:8080/  the live map" in render_banner(plan)


def test_tokens_are_made_for_each_role_unless_auth_is_set(tmp_path: Path) -> None:
    made = prepare_secure(tmp_path, AuthSettings())
    assert sorted(made.tokens.values()) == ["admin", "operator", "viewer"]
    assert prepare_secure(tmp_path, AuthSettings(auth_tokens={"mine": "admin"})).tokens == {}
    again = prepare_secure(tmp_path, AuthSettings())
    assert set(again.tokens).isdisjoint(made.tokens)
    assert again.passwords != made.passwords


def test_the_banner_says_tls_and_prints_the_tokens(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    secure = prepare_secure(tmp_path / "certs", AuthSettings())
    auth = AuthSettings(auth_tokens=dict(secure.tokens))
    plan = build_plan(settings, redis_server="r", available=lambda m: True, secure=secure)
    banner = render_banner(plan, auth=auth_line(settings, auth, secure))
    assert f"TLS: on, every server and the store (trust {secure.certs.ca}" in banner
    for token, role in secure.tokens.items():
        assert f"{role:<8} token: {token}" in banner
    assert "?tls=true" in banner
    assert f"-cacert {secure.certs.ca} " in banner
    assert f"--ca-file {secure.certs.ca} grids" in banner
    assert "-plaintext" not in banner


def test_a_store_with_users_may_listen_beyond_loopback(tmp_path: Path) -> None:
    check_exposure(
        _settings(tmp_path, eventstore_host="0.0.0.0"), AuthSettings(auth_tokens={"t": "admin"})
    )
