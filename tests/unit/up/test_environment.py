"""A plaintext ``make run`` leaves the shell's TLS and store-user variables out of its
children's environment and says so; ``make run-secure`` passes the environment whole."""

from __future__ import annotations

from services.common.settings_text import env_names
from services.common.tls import TlsClientSettings, TlsServerSettings
from services.up.environment import (
    SECURE_ONLY_PREFIX,
    STORE_SECURE_ONLY,
    inherited_environment,
)
from standins.eventstore.settings import EventStoreSettings

SHELL = {
    "PATH": "/usr/bin",
    "ROVER_TLS_CERT_FILE": "/etc/rover/server.pem",
    "ROVER_TLS_CA_FILE": "/etc/rover/ca.pem",
    "ROVER_TLS_KEY_FILE": "",
    "ROVER_EVENTSTORE_AUTH": "true",
    "ROVER_AUTH_TOKENS": '{"t": "admin"}',
    "ROVER_LOG_LEVEL": "debug",
}


def test_a_plaintext_run_leaves_out_tls_and_store_users_and_names_them() -> None:
    inherited = inherited_environment(SHELL, secure=False)
    assert dict(inherited.env) == {
        "PATH": "/usr/bin",
        "ROVER_AUTH_TOKENS": '{"t": "admin"}',  # auth on a plaintext run is supported
        "ROVER_LOG_LEVEL": "debug",
    }
    # an empty one is left out too, but changed nothing: not worth a word
    assert inherited.dropped == (
        "ROVER_EVENTSTORE_AUTH",
        "ROVER_TLS_CA_FILE",
        "ROVER_TLS_CERT_FILE",
    )
    line = inherited.banner_line()
    assert "ROVER_EVENTSTORE_AUTH, ROVER_TLS_CA_FILE, ROVER_TLS_CERT_FILE" in line
    assert "make run-secure" in line
    assert line.endswith("(unset ROVER_TLS_CA_FILE in this shell before running rover)")


def test_a_secure_run_passes_the_environment_whole() -> None:
    inherited = inherited_environment(SHELL, secure=True)
    assert (dict(inherited.env), inherited.dropped, inherited.banner_line()) == (SHELL, (), "")


def test_only_what_the_cli_reads_is_worth_unsetting() -> None:
    line = inherited_environment({"ROVER_TLS_CERT_FILE": "x"}, secure=False).banner_line()
    assert "ROVER_TLS_CERT_FILE" in line
    assert "unset" not in line


def test_nothing_to_leave_out_says_nothing() -> None:
    assert inherited_environment({"PATH": "/bin"}, secure=False).banner_line() == ""


def test_every_tls_setting_of_the_services_carries_the_prefix() -> None:
    for settings in (TlsServerSettings, TlsClientSettings):
        assert all(name.startswith(SECURE_ONLY_PREFIX) for name in env_names(settings).values())


def test_the_store_names_are_the_stand_ins_own() -> None:
    names = env_names(EventStoreSettings)
    assert set(STORE_SECURE_ONLY) == {names[f] for f in ("tls_cert", "tls_key", "auth", "users")}
