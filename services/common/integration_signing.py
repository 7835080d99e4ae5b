"""Signed integration events: only what our publisher wrote may change a read model or a watch.

The publisher signs each integration event with an HMAC-SHA256 over the bytes that decide what
it means and where it belongs: its stream, its revision (the grid's sequence - 1), its type, its
event id (derived from the causing domain event's id) and its data. The signature travels in the
event's JSON metadata (``SIGNATURE_FIELD``, ``v1.<key id>.<hex mac>``) beside the fields foreign
consumers read, so they are not disturbed. The projector and the broadcaster verify it before
they use an event; one that fails is parked as a poison event with the reason.

Several keys may be configured for rotation: the first signs, every one verifies. With no key at
all signing is off (``IntegrationKeys.enabled`` false): events are written unsigned and accepted
unsigned, and each service says so loudly at start (docs/security.md, "Integration events").

Pure (standard library): the adapters on both sides share it.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable

__all__ = [
    "SIGNATURE_FIELD",
    "IntegrationKeys",
    "SignatureError",
    "parse_keys",
    "signed_bytes",
]

SIGNATURE_FIELD = "roverSignature"
"""The metadata key of an integration event's signature."""
_SIGNATURE_KEY = f'"{SIGNATURE_FIELD}":"'.encode()
_VERSION = "v1"
_DOMAIN = b"rover.integration.v1"  # the signed bytes say what they are: no reuse elsewhere
_MIN_KEY_BYTES = 16


class SignatureError(ValueError):
    """An integration event whose signature is missing, malformed or wrong (the reason)."""


def key_id(key: bytes) -> str:
    """A short public name of a key (its signatures say which key to check them with)."""
    return hashlib.sha256(b"rover-key-id:" + key).hexdigest()[:8]


def parse_keys(text: str) -> list[bytes]:
    """Keys from a setting or a key file: separated by commas or lines, blanks ignored.

    ValueError for a key shorter than 16 characters (too weak for an HMAC key).
    """
    keys = [part.strip() for part in text.replace("\n", ",").split(",")]
    found = [k.encode() for k in keys if k]
    short = [key_id(k) for k in found if len(k) < _MIN_KEY_BYTES]
    if short:
        raise ValueError(
            f"integration keys must be at least {_MIN_KEY_BYTES} characters long "
            f"(too short: key ids {', '.join(short)})"
        )
    return found


def _part(value: bytes) -> bytes:
    return len(value).to_bytes(8, "big") + value  # length-prefixed: no two inputs collide


class IntegrationKeys:
    """The keys that sign (the first) and verify (all) integration events."""

    def __init__(self, keys: Iterable[bytes] = ()) -> None:
        self._keys = {key_id(k): k for k in keys}
        self._signing = next(iter(self._keys.items()), None)

    @property
    def enabled(self) -> bool:
        """Whether events are signed and verified (False: no key configured)."""
        return self._signing is not None

    @property
    def ids(self) -> list[str]:
        """The key ids, the signing one first (for logs: the keys themselves stay secret)."""
        return list(self._keys)

    def signature(self, signed: bytes) -> str | None:
        """The value of ``SIGNATURE_FIELD`` for an event's ``signed_bytes``; None when signing
        is off."""
        if self._signing is None:
            return None
        kid, key = self._signing
        return f"{_VERSION}.{kid}.{_mac(key, signed)}"

    def verify(self, signed: bytes, metadata: bytes) -> None:
        """Return when the stored event (its ``signed_bytes`` and its JSON ``metadata``) was
        signed by one of our keys, or signing is off; SignatureError saying why not otherwise."""
        if self._signing is None:
            return
        value = _signature_in(metadata)
        if value is None:
            raise SignatureError("integration event is not signed (not written by our publisher)")
        version, _, rest = value.partition(".")
        kid, _, mac = rest.partition(".")
        if version != _VERSION or not mac:
            raise SignatureError(f"integration event signature is malformed ({value[:40]!r})")
        key = self._keys.get(kid)
        if key is None:
            raise SignatureError(f"integration event is signed with an unknown key {kid[:16]!r}")
        if not hmac.compare_digest(_mac(key, signed), mac):
            raise SignatureError(
                "integration event signature does not match its stream, revision, type, id "
                "and data (forged or altered)"
            )


def signed_bytes(
    *, stream: str, revision: int, event_type: str, event_id: uuid.UUID, data: bytes
) -> bytes:
    """What a signature covers: where the event is, what it is, and its bytes."""
    return b"".join(
        [
            _DOMAIN,
            _part(stream.encode()),
            _part(str(revision).encode()),
            _part(event_type.encode()),
            _part(event_id.bytes),
            _part(data),
        ]
    )


def _mac(key: bytes, signed: bytes) -> str:
    return hmac.new(key, signed, hashlib.sha256).hexdigest()


def _signature_in(metadata: bytes) -> str | None:
    """The signature in an event's JSON metadata (as our publisher writes it, compact); None
    when absent. Found by a byte search, not a JSON parse (it is on every event's path): what
    it finds is only trusted once the MAC it holds verifies, so no parse can be fooled."""
    start = metadata.find(_SIGNATURE_KEY)
    if start < 0:
        return None
    start += len(_SIGNATURE_KEY)
    end = metadata.find(b'"', start)
    if end < 0:
        return None
    return metadata[start:end].decode("ascii", "replace")
