"""Bearer tokens to roles: static development tokens, and signed JWTs checked with PyJWT.

A verifier answers the role a token carries, or raises :class:`TokenRejectedError` with a stable
reason (sent to the client as google.rpc ErrorInfo) and a message that says what to fix. The
settings that configure them are in services/common/auth.py (``AuthSettings``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.common.logs import get_logger

__all__ = [
    "ROLES",
    "JwtVerifier",
    "Role",
    "StaticTokens",
    "TokenRejectedError",
    "TokenVerifier",
    "Verifiers",
    "load_jwks",
    "load_public_key",
]

_log = get_logger(__name__)

# A verified JWT is remembered (by its SHA-256) so a client's next calls skip the signature
# check: at most this many tokens, each at most this long and never past its ``exp``.
VERIFIED_TOKENS_KEPT = 10_000
VERIFIED_TOKEN_SECONDS = 60.0
# How often, at most, the JWKS file is looked at again for a key id it does not hold.
JWKS_RECHECK_SECONDS = 1.0

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
"""Every role, weakest first: each role may do all that the ones before it may."""


class TokenRejectedError(Exception):
    """The token proves no identity: ``reason`` is an UPPER_SNAKE code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TokenVerifier(Protocol):
    """Says which role a bearer token carries (None: a valid token that grants no role)."""

    def role_of(self, token: str) -> Role | None:
        """The token's role; :class:`TokenRejectedError` when the token is not good."""
        ...


class StaticTokens:
    """Development tokens: a fixed token -> role table (``ROVER_AUTH_TOKENS``).

    Every entry is compared in constant time, so the time of a refusal tells nothing about how
    much of a token was right.
    """

    def __init__(self, tokens: Mapping[str, Role]) -> None:
        self._tokens = [(token.encode(), role) for token, role in tokens.items()]

    def __len__(self) -> int:
        return len(self._tokens)

    def role_of(self, token: str) -> Role | None:
        offered = token.encode()
        found: Role | None = None
        for known, role in self._tokens:
            if hmac.compare_digest(known, offered):
                found = role
        if found is None:
            raise TokenRejectedError("TOKEN_UNKNOWN", "the bearer token is not a known token")
        return found


def load_jwks(path: Path) -> dict[str, jwt.PyJWK]:
    """The keys of a JWKS file by ``kid`` (a key without one is stored under ``""``).

    ``ValueError`` naming the file when it cannot be read or holds no usable key.
    """
    try:
        keys = jwt.PyJWKSet.from_json(path.read_text(encoding="utf-8")).keys
    except (OSError, ValueError, jwt.PyJWKSetError, jwt.PyJWKError) as error:
        raise ValueError(f"cannot read the JWKS file {path}: {error}") from None
    return {key.key_id or "": key for key in keys}


# PyJWT's refusals, most specific first (they subclass each other): reason, what to tell.
_JWT_REFUSALS: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (jwt.ExpiredSignatureError, "TOKEN_EXPIRED", "the token has expired"),
    (jwt.ImmatureSignatureError, "TOKEN_NOT_YET_VALID", "the token is not valid yet (nbf/iat)"),
    (jwt.InvalidSignatureError, "TOKEN_SIGNATURE_INVALID", "the token's signature is not valid"),
    (jwt.InvalidAlgorithmError, "TOKEN_ALGORITHM_NOT_ALLOWED", "the token's algorithm"),
    (jwt.InvalidAudienceError, "TOKEN_AUDIENCE_INVALID", "the token's audience (aud)"),
    (jwt.InvalidIssuerError, "TOKEN_ISSUER_INVALID", "the token's issuer (iss)"),
    (jwt.MissingRequiredClaimError, "TOKEN_CLAIM_MISSING", "the token lacks a claim"),
    (jwt.DecodeError, "TOKEN_MALFORMED", "the token is not a well-formed JWT"),
    (jwt.PyJWTError, "TOKEN_INVALID", "the token is not valid"),
)


class JwtVerifier:
    """Signed JWTs: the signature (a key from settings or a JWKS file, chosen by ``kid``),
    then expiry (``exp`` required), issuer and audience when set, within ``leeway`` seconds;
    the role is read from the first of ``role_claims`` the token has (a string or a list,
    whose strongest known role counts).

    A token that passed is remembered (see ``VERIFIED_TOKENS_KEPT``): the same token again is
    answered without the signature check until its ``exp`` or ``VERIFIED_TOKEN_SECONDS``,
    whichever is first. ``jwks_file`` is looked at again at most once a second (on a call) and
    read again when it changed: keys rotated there are picked up without a restart, a key
    withdrawn stops vouching for tokens, remembered ones included; a file that no longer
    parses keeps the keys it had, with a warning.
    """

    def __init__(
        self,
        *,
        key: str = "",
        jwks: Mapping[str, jwt.PyJWK] | None = None,
        jwks_file: Path | None = None,
        algorithms: Sequence[str],
        issuer: str = "",
        audience: str = "",
        leeway: float = 0.0,
        role_claims: Sequence[str] = ("role", "roles"),
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # Keys parsed once: PyJWT would parse a PEM text again on every call (about half
        # the cost of a verification).
        self._key: Any = load_public_key(key) if key.lstrip().startswith("-----BEGIN") else key
        self._jwks_file = jwks_file
        self._jwks_stamp = _stamp(jwks_file) if jwks_file is not None else None
        if jwks is None and jwks_file is not None:
            jwks = load_jwks(jwks_file)
        self._jwks = {kid: jwk.key for kid, jwk in (jwks or {}).items()}
        self._jwks_checked = monotonic()
        self._algorithms = list(algorithms)
        self._issuer = issuer or None
        self._audience = audience or None
        self._leeway = leeway
        self._role_claims = tuple(role_claims)
        required = ["exp", *(["iss"] if issuer else []), *(["aud"] if audience else [])]
        self._options: Any = {"require": required}
        self._clock = clock
        self._monotonic = monotonic
        self._verified: OrderedDict[bytes, tuple[Role | None, float]] = OrderedDict()

    def _key_for(self, token: str) -> Any:
        header = jwt.get_unverified_header(token)  # DecodeError when not a JWT
        kid = header.get("kid")
        if isinstance(kid, str) and kid not in self._jwks and self._jwks_changed():
            self._reload_jwks()
        if isinstance(kid, str) and kid in self._jwks:
            return self._jwks[kid]
        if self._key:
            return self._key
        if kid is None and len(self._jwks) == 1:
            return next(iter(self._jwks.values()))
        raise TokenRejectedError(
            "TOKEN_KEY_UNKNOWN", f"no key to verify the token with (its kid is {kid!r})"
        )

    def _jwks_changed(self) -> bool:
        if self._jwks_file is None:
            return False
        now = self._monotonic()
        if now - self._jwks_checked < JWKS_RECHECK_SECONDS:
            return False
        self._jwks_checked = now
        return _stamp(self._jwks_file) != self._jwks_stamp

    def _reload_jwks(self) -> None:
        assert self._jwks_file is not None
        stamp = _stamp(self._jwks_file)
        try:
            keys = load_jwks(self._jwks_file)
        except ValueError as error:
            _log.warning("JWKS file not reloaded; keeping its previous keys", error=str(error))
            return
        self._jwks = {kid: jwk.key for kid, jwk in keys.items()}
        self._jwks_stamp = stamp
        self._verified.clear()  # a key taken out of the file no longer vouches for a token
        _log.info("JWKS file reloaded", path=str(self._jwks_file), keys=len(keys))

    def role_of(self, token: str) -> Role | None:
        if self._jwks_changed():  # at most once a second: a key withdrawn stops vouching
            self._reload_jwks()
        digest = hashlib.sha256(token.encode()).digest()
        known = self._verified.get(digest)
        if known is not None:
            if known[1] > self._clock():
                self._verified.move_to_end(digest)
                return known[0]
            del self._verified[digest]
        role, expires = self._verify(token)
        until = min(expires, self._clock() + VERIFIED_TOKEN_SECONDS)
        self._verified[digest] = (role, until)
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return role

    def _verify(self, token: str) -> tuple[Role | None, float]:
        """The token's role and its expiry (Unix seconds), its signature and claims checked."""
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options=self._options,
            )
        except jwt.PyJWTError as error:
            for kind, reason, what in _JWT_REFUSALS:
                if isinstance(error, kind):
                    raise TokenRejectedError(reason, f"{what}: {error}") from None
            raise  # pragma: no cover - the last row matches every PyJWTError
        expires = float(claims["exp"])  # required, and a number once decode() accepted it
        for claim in self._role_claims:
            if claim in claims:
                return _strongest(claims[claim]), expires
        return None, expires


def _stamp(path: Path) -> tuple[int, int] | None:
    """What tells that a file changed: its modification time and size (None: unreadable)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def load_public_key(pem: str) -> Any:
    """A PEM public key (or certificate) as a key object; ValueError when it is neither."""
    data = pem.strip().encode()
    if b"CERTIFICATE" in data.split(b"\n", 1)[0]:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def _strongest(value: object) -> Role | None:
    """The strongest role named by a claim's value (a string or a list of strings)."""
    named = [value] if isinstance(value, str) else value
    if not isinstance(named, list):
        return None
    known = [role for role in ROLES if role in named]
    return known[-1] if known else None


class Verifiers:
    """Static tokens first (cheap, and never shaped like a JWT), then the JWT verifier."""

    def __init__(self, static: StaticTokens | None, jwt_verifier: JwtVerifier | None) -> None:
        self._static = static
        self._jwt = jwt_verifier

    def role_of(self, token: str) -> Role | None:
        if self._static is not None:
            try:
                return self._static.role_of(token)
            except TokenRejectedError:
                if self._jwt is None or token.count(".") != 2:  # not shaped like a JWT
                    raise
        if self._jwt is None:  # pragma: no cover - auth is on only with one of them
            raise TokenRejectedError("TOKEN_UNKNOWN", "the bearer token is not a known token")
        return self._jwt.role_of(token)
