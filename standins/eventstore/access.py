"""Users and stream ACLs, as EventStoreDB enforces them when it runs secure (users on).

Credentials come as HTTP Basic auth in the ``authorization`` metadata (what esdbclient sends
over TLS for ``esdb://user:pass@...``). Built-in users: ``admin`` (group ``$admins``) and
``ops`` (group ``$ops``), password ``changeit`` unless configured. Wrong credentials are
UNAUTHENTICATED; an anonymous call and a user the ACL does not name get EventStoreDB's
PERMISSION_DENIED ``Access Denied`` (trailer ``exception: access-denied``; a BatchAppend
result carries ``AccessDenied``, which esdbclient raises as AccessDeniedError).

Who may do what to a stream (operations ``$r``, ``$w``, ``$d``, ``$mr``, ``$mw``): members of
``$admins`` anything; otherwise the roles the stream's metadata ``$acl`` names for the
operation, else the default of ``$settings`` (``$userStreamAcl``, or ``$systemStreamAcl`` for a
``$``-stream), else the built-in default (user streams: ``$all``, any authenticated user;
``$``-streams, ``$all`` reads included: ``$admins``). A ``$$`` metadata stream is read with
``$mr`` and written with ``$mw`` of its stream. ``$settings`` itself is for ``$admins`` only.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import grpc

from services.common.handler_wrapping import Handler, refusing
from standins.eventstore import errors
from standins.eventstore.metadata import is_metastream
from standins.eventstore.storage import SqliteEventLog

__all__ = [
    "AccessControl",
    "PersistentAccessInterceptor",
    "Principal",
    "User",
    "builtin_users",
]

Operation = Literal["r", "w", "d", "mr", "mw"]
Context = grpc.aio.ServicerContext[Any, Any]

ADMINS = "$admins"
OPS = "$ops"
EVERYONE = "$all"
"""In an ACL: any authenticated user."""
SETTINGS_STREAM = "$settings"
DEFAULT_PASSWORD = "changeit"  # noqa: S105 - EventStoreDB's documented default
_BUILTIN_DEFAULTS: Mapping[bool, Sequence[str]] = {False: (EVERYONE,), True: (ADMINS,)}
_DEFAULT_KEYS = {False: "$userStreamAcl", True: "$systemStreamAcl"}
_CACHE_LIMIT = 10_000  # entries of each cache; a full cache starts again empty


@dataclass(frozen=True, slots=True)
class User:
    """A user of the store: its password and groups."""

    name: str
    password: str
    groups: tuple[str, ...] = ()


def builtin_users(configured: Iterable[User] = ()) -> dict[str, User]:
    """``admin`` and ``ops`` (EventStoreDB's), then ``configured`` (which may replace them)."""
    users = {
        "admin": User("admin", DEFAULT_PASSWORD, (ADMINS,)),
        "ops": User("ops", DEFAULT_PASSWORD, (OPS,)),
    }
    users.update({user.name: user for user in configured})
    return users


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its name and every role an ACL may name it by."""

    name: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMINS in self.roles


class BadCredentialsError(Exception):
    """The call carried credentials that are malformed or wrong."""


def _roles(value: object) -> tuple[str, ...] | None:
    """An ACL entry: one role or a list of them (None when absent or malformed)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


class AccessControl:
    """Authenticates calls and checks stream operations against ACLs (off: everyone may)."""

    def __init__(self, log: SqliteEventLog, users: Mapping[str, User] | None) -> None:
        self._log = log
        self._users = dict(users) if users is not None else None
        # (stream, operation) -> roles; cleared whenever a write may change an ACL.
        self._acls: dict[tuple[str, Operation], Sequence[str]] = {}
        self._principals: dict[str | bytes, Principal] = {}  # verified credentials

    def principal(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal | None:
        """The caller named by Basic credentials (None: anonymous); BadCredentialsError."""
        values = [v for k, v in metadata or () if k == "authorization"]
        if not values or self._users is None:
            return None
        raw = values[0]
        known = self._principals.get(raw)
        if known is not None:
            return known
        text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
        scheme, _, encoded = text.partition(" ")
        if scheme.lower() != "basic":
            raise BadCredentialsError
        try:
            name, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise BadCredentialsError from None
        user = self._users.get(name)
        if not sep or user is None or not hmac.compare_digest(password, user.password):
            raise BadCredentialsError
        if len(self._principals) >= _CACHE_LIMIT:
            self._principals.clear()
        who = self._principals[raw] = Principal(name, frozenset({name, *user.groups}))
        return who

    def written(self, stream: str, *, deleted: bool = False) -> None:
        """A write to ``stream`` ended: forget the cached ACLs if it may have changed one
        (a ``$$`` metadata stream, ``$settings``, or a delete or tombstone of any stream)."""
        if deleted or stream == SETTINGS_STREAM or is_metastream(stream):
            self._acls.clear()

    def permits(self, who: Principal | None, stream: str, operation: Operation) -> bool:
        """Whether ``who`` may do ``operation`` on ``stream`` (``$all`` for reads of all)."""
        if self._users is None:
            return True
        if who is None:
            return False  # no anonymous stream access (EventStoreDB's default since 20.6)
        if who.is_admin:
            return True
        if is_metastream(stream):
            stream = stream[2:]
            operation = "mr" if operation == "r" else "mw"
        if stream == SETTINGS_STREAM:
            return False
        allowed = self._acl(stream, operation)
        return EVERYONE in allowed or not who.roles.isdisjoint(allowed)

    def _acl(self, stream: str, operation: Operation) -> Sequence[str]:
        cached = self._acls.get((stream, operation))
        if cached is None:
            if len(self._acls) >= _CACHE_LIMIT:
                self._acls.clear()
            cached = self._acls[(stream, operation)] = self._read_acl(stream, operation)
        return cached

    def _read_acl(self, stream: str, operation: Operation) -> Sequence[str]:
        key = f"${operation}"
        own = self._log.metadata(stream).raw.get("$acl")
        if isinstance(own, dict) and (roles := _roles(own.get(key))) is not None:
            return roles
        system = stream.startswith("$")
        defaults = self._settings().get(_DEFAULT_KEYS[system])
        if isinstance(defaults, dict) and (roles := _roles(defaults.get(key))) is not None:
            return roles
        return _BUILTIN_DEFAULTS[system]

    def _settings(self) -> dict[str, Any]:
        last = self._log.read_stream_backwards(SETTINGS_STREAM, 1 << 62, 1)
        if not last:
            return {}
        try:
            value = json.loads(last[0].data)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    async def check(self, context: Context, stream: str, operation: Operation) -> None:
        """Abort the call as EventStoreDB does unless its caller may do ``operation``."""
        if self._users is None:
            return
        who = await self.authenticate(context)
        if not self.permits(who, stream, operation):
            await errors.abort_access_denied(context)

    async def authenticate(self, context: Context) -> Principal | None:
        """The caller (None: anonymous), or the call ends UNAUTHENTICATED."""
        try:
            return self.principal(context.invocation_metadata())
        except BadCredentialsError:
            await errors.abort_unauthenticated(context)


_PERSISTENT = "/event_store.client.persistent_subscriptions.PersistentSubscriptions/"


class PersistentAccessInterceptor(grpc.aio.ServerInterceptor):
    """Persistent subscriptions (which read ``$all`` or any stream for their group) are for
    callers that may read ``$all``; other services (streams check per call, gossip, server
    features, health) pass untouched."""

    def __init__(self, access: AccessControl) -> None:
        self._access = access

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.startswith(_PERSISTENT):
            return handler
        try:
            who = self._access.principal(handler_call_details.invocation_metadata)
        except BadCredentialsError:
            return refusing(handler, _ending(errors.abort_unauthenticated))
        if self._access.permits(who, "$all", "r"):
            return handler
        return refusing(handler, _ending(errors.abort_access_denied))


def _ending(abort: Callable[[Context], Awaitable[object]]) -> Callable[[Any, Context], Any]:
    async def refuse(_request: object, context: Context) -> None:
        await abort(context)

    return refuse
