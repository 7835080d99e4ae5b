"""Who can reach what ``make run`` starts: it refuses to serve other machines without auth.

On loopback (the default) auth may stay off; an address other machines can reach needs auth on
(``ROVER_AUTH_*``, services/common/auth.py) or ``ROVER_ALLOW_INSECURE_NON_LOOPBACK=true``. The
event store stand-in enforces users only with ``ROVER_SECURE`` (make run-secure), so a
non-loopback store needs that or the latter.
"""

from __future__ import annotations

from services.common.auth import AuthSettings, is_local_address
from services.up.secure import SERVICE_USER, SecureRun
from services.up.settings import ENV_NAMES, UpSettings

__all__ = ["auth_line", "check_exposure"]

_ALLOW = ENV_NAMES["allow_insecure_non_loopback"]
_SERVICE_FIELDS = ("command_address", "query_address", "broadcaster_address", "web_address")


def exposed_addresses(settings: UpSettings, auth: AuthSettings) -> list[str]:
    """``VARIABLE=value`` of each address other machines reach and nothing there checks."""
    exposed = []
    if not is_local_address(f"{settings.eventstore_host}:0") and not settings.secure:
        exposed.append(f"{ENV_NAMES['eventstore_host']}={settings.eventstore_host}")
    if not auth.auth_enabled:
        for field in _SERVICE_FIELDS:
            value: str = getattr(settings, field)
            if not is_local_address(value):
                exposed.append(f"{ENV_NAMES[field]}={value}")
    return exposed


def check_exposure(settings: UpSettings, auth: AuthSettings) -> None:
    """ValueError naming each exposed address and both ways out, unless explicitly allowed."""
    exposed = exposed_addresses(settings, auth)
    if exposed and not settings.allow_insecure_non_loopback:
        raise ValueError(
            f"refusing to listen where other machines can reach it without auth: "
            f"{', '.join(exposed)}. Turn auth on (ROVER_AUTH_TOKENS or a JWT key; the event "
            f"store stand-in needs ROVER_SECURE=true), listen on 127.0.0.1, or set {_ALLOW}=true "
            "to serve it anyway (docs/security.md)"
        )


def auth_line(settings: UpSettings, auth: AuthSettings, secure: SecureRun | None = None) -> str:
    """The banner's line about auth (and with ``secure``, TLS, the store's users, tokens)."""
    if secure is not None:
        lines = [
            f"TLS: on, every server and the store (trust {secure.certs.ca}: rover --ca-file, "
            "grpcurl -cacert); store users on (services connect as "
            f"{SERVICE_USER}: docs/security.md)",
            f"Auth: {auth.describe_auth()}; clients send 'authorization: Bearer <token>'",
        ]
        lines += [f"  {role:<8} token: {token}" for token, role in secure.tokens.items()]
        return "\n".join(lines)
    if auth.auth_enabled:
        return (
            f"Auth: {auth.describe_auth()}; clients send 'authorization: Bearer <token>' "
            "(rover: --token or ROVER_TOKEN)"
        )
    if exposed_addresses(settings, auth):
        return (
            f"Auth: OFF on addresses other machines reach ({_ALLOW}): anyone who reaches "
            "them may call every RPC"
        )
    return "Auth: off (loopback only; ROVER_AUTH_TOKENS turns it on: docs/security.md)"
