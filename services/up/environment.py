"""What the children of ``make run`` inherit from the user's shell.

Every child gets the shell's environment under its own ``ROVER_*`` variables from the plan.
A plaintext run (``make run``) leaves out the variables that would switch TLS or the store's
users on behind its back: ``ROVER_TLS_*`` (a server would serve TLS its probes and clients do
not speak, the web front-end would dial TLS to plaintext services) and the store's
``ROVER_EVENTSTORE_TLS_*``/``_AUTH``/``_USERS`` (the services connect anonymously, in
plaintext). It names what it left out, in its log and banner; ``make run-secure`` is the run
with TLS and users. ``ROVER_AUTH_*`` (bearer tokens on the services) is kept: a plaintext run
with auth on is supported (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.settings_text import env_names
from services.common.tls import TlsClientSettings

__all__ = ["SECURE_ONLY_PREFIX", "STORE_SECURE_ONLY", "Inherited", "inherited_environment"]

SECURE_ONLY_PREFIX = "ROVER_TLS_"
"""The services' TLS settings (services/common/tls.py): only make run-secure sets them."""

STORE_SECURE_ONLY = (
    "ROVER_EVENTSTORE_TLS_CERT",
    "ROVER_EVENTSTORE_TLS_KEY",
    "ROVER_EVENTSTORE_AUTH",
    "ROVER_EVENTSTORE_USERS",
)
"""The event store stand-in's TLS and users (standins/eventstore/settings.py; services may not
import it: tests/unit/up/test_environment.py holds these names equal to its settings')."""

MAKE_RUN_SECURE = "make run-secure (ROVER_SECURE=true)"

_CLI_DIALS_TLS = frozenset(env_names(TlsClientSettings).values())
"""What makes the CLI (and any rover client) dial TLS: services/common/tls.py."""


@dataclass(frozen=True, slots=True)
class Inherited:
    """The environment the children start from, and the variables left out of it."""

    env: Mapping[str, str]
    dropped: tuple[str, ...] = ()

    def banner_line(self) -> str:
        """The banner's line about what was left out ('' when nothing was)."""
        if not self.dropped:
            return ""
        line = (
            f"Ignored (this run is plaintext, without store users): {', '.join(self.dropped)}; "
            f"{MAKE_RUN_SECURE} serves TLS with users"
        )
        cli = [name for name in self.dropped if name in _CLI_DIALS_TLS]
        if cli:  # rover in this shell would still dial TLS
            line += f"\n  (unset {' '.join(cli)} in this shell before running rover)"
        return line


def _secure_only(name: str) -> bool:
    return name.startswith(SECURE_ONLY_PREFIX) or name in STORE_SECURE_ONLY


def inherited_environment(environ: Mapping[str, str], *, secure: bool) -> Inherited:
    """``environ`` as the children inherit it: whole with ``secure``, else without the
    variables that only a secure run may set (set to anything but '')."""
    if secure:
        return Inherited(dict(environ))
    dropped = tuple(sorted(name for name, value in environ.items() if _secure_only(name)))
    kept = {name: value for name, value in environ.items() if not _secure_only(name)}
    return Inherited(kept, tuple(name for name in dropped if environ[name]))
