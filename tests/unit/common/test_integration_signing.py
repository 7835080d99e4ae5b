"""Integration event signatures: what they cover, rotation, and signing off."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from services.common.integration_key_settings import IntegrationKeySettings, integration_keys
from services.common.integration_signing import (
    SIGNATURE_FIELD,
    IntegrationKeys,
    SignatureError,
    parse_keys,
    signed_bytes,
)
from services.up.integration_key import ensure_integration_key

OLD, NEW = b"the-old-key-0123456789", b"the-new-key-0123456789"
EVENT = {
    "stream": "integration-alpha",
    "revision": 4,
    "event_type": "rover.v1.RoverMovedForward",
    "event_id": uuid.UUID(int=7),
    "data": b"\x0a\x01x protobuf bytes",
}


def metadata(signature: str | None) -> bytes:
    body: dict[str, str] = {"$correlationId": "c", "$causationId": "d"}
    if signature is not None:
        body[SIGNATURE_FIELD] = signature
    return json.dumps(body, separators=(",", ":")).encode()  # as our publisher writes it


def signed(keys: IntegrationKeys, **changes: object) -> bytes:
    return metadata(keys.signature(signed_bytes(**{**EVENT, **changes})))  # type: ignore[arg-type]


SIGNED = signed_bytes(**EVENT)  # type: ignore[arg-type]


def test_a_signed_event_verifies() -> None:
    keys = IntegrationKeys([OLD])
    keys.verify(SIGNED, signed(keys))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream", "integration-beta"),
        ("revision", 5),
        ("event_type", "rover.v1.RoverMovedBackward"),
        ("event_id", uuid.UUID(int=8)),
        ("data", b"\x0a\x01y protobuf bytes"),
    ],
)
def test_the_signature_covers_every_part(field: str, value: object) -> None:
    keys = IntegrationKeys([OLD])
    moved = {**EVENT, field: value}
    with pytest.raises(SignatureError, match="does not match"):
        keys.verify(signed_bytes(**moved), signed(keys))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (metadata(None), "not signed"),
        (b"not json", "not signed"),
        (metadata("v2.abc.def"), "malformed"),
        (metadata("v1.deadbeef.00"), "unknown key"),
    ],
)
def test_unsigned_and_malformed_signatures_are_refused(stored: bytes, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        IntegrationKeys([OLD]).verify(SIGNED, stored)


def test_rotation_the_first_key_signs_every_key_verifies() -> None:
    before = signed(IntegrationKeys([OLD]))
    rotated = IntegrationKeys([NEW, OLD])
    rotated.verify(SIGNED, before)
    after = signed(rotated)
    IntegrationKeys([NEW]).verify(SIGNED, after)
    with pytest.raises(SignatureError, match="unknown key"):
        IntegrationKeys([OLD]).verify(SIGNED, after)


def test_without_keys_nothing_is_signed_or_checked() -> None:
    keys = IntegrationKeys()
    assert not keys.enabled
    assert keys.signature(SIGNED) is None
    keys.verify(SIGNED, b"")


def test_keys_are_parsed_from_commas_and_lines_and_short_ones_refused() -> None:
    assert parse_keys(" a-long-enough-key-1,\nanother-long-key-2\n\n") == [
        b"a-long-enough-key-1",
        b"another-long-key-2",
    ]
    with pytest.raises(ValueError, match="at least 16"):
        parse_keys("short")


def test_settings_join_the_variable_and_the_file(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    file.write_text("key-from-the-file-01\n")
    settings = IntegrationKeySettings(
        integration_keys="key-from-the-variable", integration_key_file=file
    )
    keys = integration_keys(settings)
    assert len(keys.ids) == 2
    only_file = integration_keys(IntegrationKeySettings(integration_key_file=file))
    assert keys.ids[1] == only_file.ids[0]


def test_make_run_writes_one_private_key_per_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "data" / "integration.key"
    assert ensure_integration_key(path)
    first = path.read_text()
    assert not ensure_integration_key(path)  # kept: the stored events stay verifiable
    assert path.read_text() == first
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert len(parse_keys(first)) == 1
