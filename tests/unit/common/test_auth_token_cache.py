"""JwtVerifier remembers tokens it verified (bounded, never past ``exp``) and picks up keys
rotated in its JWKS file (services/common/auth_tokens.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from services.common import auth_tokens
from services.common.auth_tokens import JwtVerifier, TokenRejectedError


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _jwks(path: Path, **keys: ec.EllipticCurvePrivateKey) -> None:
    entries = []
    for kid, key in keys.items():
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        entries.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
    path.write_text(json.dumps({"keys": entries}))


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature was checked (PyJWT's decode was called for them)."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: object, **kwargs: object) -> object:
        seen.append(token)
        return real(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting)  # the module auth_tokens calls through
    return seen


def test_a_verified_token_is_not_checked_again_until_its_expiry(decodes: list[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    clock = Clock()
    verifier = JwtVerifier(key="", jwks={"k": jwt.PyJWK(_jwk(key))}, algorithms=["ES256"],
                           clock=clock)  # fmt: skip
    token = jwt.encode({"role": "operator", "exp": int(clock.now) + 30}, key, "ES256",
                       headers={"kid": "k"})  # fmt: skip
    assert [verifier.role_of(token) for _ in range(3)] == ["operator"] * 3
    assert decodes == [token]
    clock.now += 31  # past exp: not answered from memory, checked again
    verifier.role_of(token)  # (PyJWT reads the real time, for which it is still good)
    assert decodes == [token, token]


def test_a_long_lived_token_is_checked_again_after_the_longest_remembered_time(
    decodes: list[str],
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    clock = Clock()
    verifier = JwtVerifier(key="", jwks={"k": jwt.PyJWK(_jwk(key))}, algorithms=["ES256"],
                           clock=clock)  # fmt: skip
    token = jwt.encode({"role": "viewer", "exp": 2**40}, key, "ES256", headers={"kid": "k"})
    verifier.role_of(token)
    clock.now += auth_tokens.VERIFIED_TOKEN_SECONDS - 1
    verifier.role_of(token)
    assert len(decodes) == 1
    clock.now += 2
    assert verifier.role_of(token) == "viewer"
    assert len(decodes) == 2


def test_refusals_are_not_remembered_and_the_memory_is_bounded(
    decodes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth_tokens, "VERIFIED_TOKENS_KEPT", 2)
    key = ec.generate_private_key(ec.SECP256R1())
    verifier = JwtVerifier(key="", jwks={"k": jwt.PyJWK(_jwk(key))}, algorithms=["ES256"])
    tokens = [
        jwt.encode({"role": "viewer", "exp": 2**40, "n": n}, key, "ES256", headers={"kid": "k"})
        for n in range(3)
    ]
    for token in tokens:
        verifier.role_of(token)
    verifier.role_of(tokens[0])  # the oldest was let go: checked again
    assert decodes == [*tokens, tokens[0]]
    other = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode({"role": "admin", "exp": 2**40}, other, "ES256", headers={"kid": "k"})
    for _ in range(2):
        with pytest.raises(TokenRejectedError):
            verifier.role_of(forged)
    assert decodes[-2:] == [forged, forged]


def test_keys_rotated_in_the_jwks_file_are_picked_up(tmp_path: Path) -> None:
    old, new = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    path = tmp_path / "jwks.json"
    _jwks(path, old=old)
    ticks = Clock()
    verifier = JwtVerifier(jwks_file=path, algorithms=["ES256"], monotonic=ticks)
    claims = {"role": "admin", "exp": 2**40}
    by_old = jwt.encode(claims, old, "ES256", headers={"kid": "old"})
    by_new = jwt.encode(claims, new, "ES256", headers={"kid": "new"})
    assert verifier.role_of(by_old) == "admin"
    _jwks(path, new=new)  # rotated: the old key withdrawn
    with pytest.raises(TokenRejectedError) as early:  # the file is looked at once a second
        verifier.role_of(by_new)
    assert early.value.reason == "TOKEN_KEY_UNKNOWN"
    ticks.now += auth_tokens.JWKS_RECHECK_SECONDS
    assert verifier.role_of(by_new) == "admin"
    with pytest.raises(TokenRejectedError) as withdrawn:  # not vouched for by a cached entry
        verifier.role_of(by_old)
    assert withdrawn.value.reason == "TOKEN_KEY_UNKNOWN"
    path.write_text("not json")
    ticks.now += auth_tokens.JWKS_RECHECK_SECONDS
    unknown = jwt.encode(claims, old, "ES256", headers={"kid": "third"})
    with pytest.raises(TokenRejectedError):  # a broken file keeps the keys it had
        verifier.role_of(unknown)
    assert verifier.role_of(by_new) == "admin"


def _jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, object]:
    jwk: dict[str, object] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": "k", "alg": "ES256"}


def test_a_key_withdrawn_from_the_jwks_file_stops_vouching_for_remembered_tokens(
    tmp_path: Path,
) -> None:
    kept, withdrawn = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    path = tmp_path / "jwks.json"
    _jwks(path, kept=kept, withdrawn=withdrawn)
    ticks = Clock()
    verifier = JwtVerifier(jwks_file=path, algorithms=["ES256"], monotonic=ticks)
    claims = {"role": "operator", "exp": 2**40}
    token = jwt.encode(claims, withdrawn, "ES256", headers={"kid": "withdrawn"})
    assert verifier.role_of(token) == "operator"  # verified, and remembered
    _jwks(path, kept=kept)
    ticks.now += auth_tokens.JWKS_RECHECK_SECONDS
    with pytest.raises(TokenRejectedError) as refused:  # no unknown kid needed to notice
        verifier.role_of(token)
    assert refused.value.reason == "TOKEN_KEY_UNKNOWN"
