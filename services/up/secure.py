"""``make run-secure`` (``ROVER_SECURE=true``): the system over TLS, with users on the store.

From the development certificates (services/up/certs.py, made when missing):
- every server serves TLS (``ROVER_TLS_CERT_FILE``/``_KEY_FILE``), the store included;
- the store enforces users (``--auth``): ``admin``, ``ops`` and the services' own ``rover``
  user, each with a password made for this run; the services connect as ``rover``;
- once the store is up, ``admin`` grants ``rover`` what the services need and no more:
  reading ``$all`` (``$$$all`` ``$acl``), and as ``$settings`` default for user streams read,
  write and metadata for ``rover`` only, deletes for ``$admins`` only. Nobody else (and no
  anonymous caller) may touch the grids' streams or the publisher's checkpoint;
- static bearer tokens for viewer, operator and admin unless ``ROVER_AUTH_*`` is set; the
  banner prints them with the CA to trust;
- the web front-end serves HTTPS with the same certificate and dials the services over TLS
  trusting the CA (presenting the client certificate, should they ask for one).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from esdbclient import AsyncEventStoreDBClient, NewEvent, StreamState

from services.common.auth import ROLES, AuthSettings
from services.common.settings_text import env_name
from services.common.tls import TlsClientSettings, TlsServerSettings
from services.up.certs import CertFiles, make_dev_certs

__all__ = ["ADMIN_USER", "SERVICE_USER", "SecureRun", "grant_service_access", "prepare_secure"]

SERVICE_USER = "rover"
ADMIN_USER = "admin"
OPS_USER = "ops"
SERVICE_STREAM_ACL: Mapping[str, list[str]] = {
    "$r": [SERVICE_USER],
    "$w": [SERVICE_USER],
    "$d": ["$admins"],
    "$mr": [SERVICE_USER],
    "$mw": [SERVICE_USER],
}
"""The default ACL of user streams: the services' user reads, writes and sets metadata."""


@dataclass(frozen=True, slots=True)
class SecureRun:
    """The certificates, the store's passwords and the tokens of one secure run."""

    certs: CertFiles
    passwords: Mapping[str, str] = field(repr=False)
    tokens: Mapping[str, str] = field(default_factory=dict, repr=False)
    """token -> role, when made here (empty: the user's ROVER_AUTH_* settings hold)."""

    def store_args(self) -> tuple[str, ...]:
        """The store's flags: TLS and users on."""
        return (
            "--tls-cert",
            str(self.certs.server),
            "--tls-key",
            str(self.certs.server_key),
            "--auth",
        )

    def store_env(self) -> dict[str, str]:
        """``ROVER_EVENTSTORE_USERS``: admin's and ops's passwords for this run, and the
        services' user."""
        groups = {ADMIN_USER: ["$admins"], OPS_USER: ["$ops"], SERVICE_USER: []}
        users = {
            user: {"password": self.passwords[user], "groups": groups[user]} for user in groups
        }
        # standins.eventstore.settings (services may not import the stand-in; the e2e test
        # of make run-secure fails if this name is wrong)
        return {"ROVER_EVENTSTORE_USERS": json.dumps(users)}

    def store_uri(self, dial: str, user: str = SERVICE_USER) -> str:
        """The esdbclient URI of the store as ``user``, over TLS trusting our CA."""
        password = self.passwords[user]
        return f"esdb://{user}:{password}@{dial}?Tls=true&TlsCaFile={self.certs.ca}"

    def service_env(self) -> dict[str, str]:
        """What every service child gets besides the store's URI: TLS, and tokens if made."""
        env = {
            env_name(TlsServerSettings, "tls_cert_file"): str(self.certs.server),
            env_name(TlsServerSettings, "tls_key_file"): str(self.certs.server_key),
        }
        if self.tokens:
            env[env_name(AuthSettings, "auth_tokens")] = json.dumps(dict(self.tokens))
        return env

    def web_env(self) -> dict[str, str]:
        """What the web front-end gets besides :meth:`service_env` (its HTTPS certificate):
        the CA it trusts for the services, and the client certificate it presents should they
        ask for one (``ROVER_TLS_CLIENT_CA_FILE``, mutual TLS), as the probes do."""
        return {
            env_name(TlsClientSettings, "tls_ca_file"): str(self.certs.ca),
            env_name(TlsClientSettings, "tls_client_cert_file"): str(self.certs.client),
            env_name(TlsClientSettings, "tls_client_key_file"): str(self.certs.client_key),
        }


def prepare_secure(certs_dir: Path, auth: AuthSettings) -> SecureRun:
    """Certificates (made or kept), passwords for this run, and tokens unless auth is set."""
    certs, _ = make_dev_certs(certs_dir)
    users = (ADMIN_USER, OPS_USER, SERVICE_USER)  # none keeps EventStoreDB's default password
    passwords = {user: secrets.token_hex(16) for user in users}
    tokens = (
        {} if auth.auth_enabled else {f"dev-{role}-{secrets.token_hex(8)}": role for role in ROLES}
    )
    return SecureRun(certs, passwords, tokens)


async def grant_service_access(admin_uri: str) -> None:
    """As admin: let the services' user read ``$all`` and own the user streams (see above)."""
    client = AsyncEventStoreDBClient(admin_uri)
    await client.connect()
    try:
        await client.set_stream_metadata("$all", metadata={"$acl": {"$r": [SERVICE_USER]}})
        defaults = {"$userStreamAcl": dict(SERVICE_STREAM_ACL)}
        await client.append_to_stream(
            "$settings",
            current_version=StreamState.ANY,
            events=[NewEvent(type="$settings", data=json.dumps(defaults).encode())],
        )
    finally:
        await client.close()
