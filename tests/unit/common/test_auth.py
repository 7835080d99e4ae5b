"""Roles per RPC, token verifiers and settings of services/common/auth.py (no server)."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from services.common.auth import (
    METHOD_ROLES,
    ROLES,
    AuthInterceptor,
    AuthSettings,
    build_verifier,
    is_local_address,
)
from services.common.auth_tokens import JwtVerifier, StaticTokens, TokenRejectedError
from services.common.settings_text import SettingsError, load_settings
from tests.support.rpcs import all_rpcs


def test_every_rpc_of_every_rover_service_has_a_role() -> None:
    assert set(METHOD_ROLES) == {rpc.method for rpc in all_rpcs()}


def test_admin_service_needs_admin_and_commands_need_operator() -> None:
    for rpc in all_rpcs():
        if rpc.service == "rover.v1.RoverAdminService":
            assert METHOD_ROLES[rpc.method] == "admin"
        if rpc.service == "rover.v1.RoverCommandService":
            assert METHOD_ROLES[rpc.method] == "operator"


def test_a_method_missing_from_the_table_is_refused_to_admin() -> None:
    interceptor = AuthInterceptor(StaticTokens({"t": "admin"}), roles={})
    refusal = interceptor.check(
        "/rover.v1.RoverQueryService/ListGrids", [("authorization", "Bearer t")]
    )
    assert refusal is not None
    assert refusal.reason == "METHOD_NOT_GRANTED"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "TOKEN_MISSING"),
        ("Basic dXNlcjpwYXNz", "AUTHORIZATION_MALFORMED"),
        ("Bearer ", "AUTHORIZATION_MALFORMED"),
        ("Bearer nope", "TOKEN_UNKNOWN"),
    ],
)
def test_bad_authorization_is_refused_with_a_reason(value: str | None, reason: str) -> None:
    interceptor = AuthInterceptor(StaticTokens({"t": "admin"}))
    metadata = [] if value is None else [("authorization", value)]
    refusal = interceptor.check("/rover.v1.RoverQueryService/ListGrids", metadata)
    assert refusal is not None
    assert refusal.reason == reason


def test_static_tokens_map_to_their_role() -> None:
    tokens = StaticTokens({"v": "viewer", "o": "operator"})
    assert (tokens.role_of("v"), tokens.role_of("o")) == ("viewer", "operator")
    with pytest.raises(TokenRejectedError):
        tokens.role_of("vv")


def _pem(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_jwt_role_from_a_string_or_the_strongest_of_a_list() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    verifier = JwtVerifier(key=_pem(key), algorithms=["ES256"])
    exp = int(time.time()) + 60
    assert (
        verifier.role_of(jwt.encode({"role": "operator", "exp": exp}, key, "ES256")) == "operator"
    )
    roles = {"roles": ["viewer", "admin", "pilot"], "exp": exp}
    assert verifier.role_of(jwt.encode(roles, key, "ES256")) == "admin"
    assert verifier.role_of(jwt.encode({"exp": exp}, key, "ES256")) is None


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "us", "aud": "rovers"}, "TOKEN_CLAIM_MISSING"),  # no exp
        ({"iss": "us", "aud": "rovers", "exp": 1}, "TOKEN_EXPIRED"),
        ({"iss": "us", "aud": "rovers", "exp": "soon"}, "TOKEN_MALFORMED"),
        ({"iss": "us", "aud": "rovers", "exp": 2**40, "nbf": 2**40}, "TOKEN_NOT_YET_VALID"),
        ({"iss": "other", "aud": "rovers", "exp": 2**40}, "TOKEN_ISSUER_INVALID"),
        ({"iss": "us", "aud": "them", "exp": 2**40}, "TOKEN_AUDIENCE_INVALID"),
        ({"aud": "rovers", "exp": 2**40}, "TOKEN_CLAIM_MISSING"),  # no iss
    ],
)
def test_jwt_claims_are_checked(claims: dict[str, object], reason: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = JwtVerifier(key=_pem(key), algorithms=["RS256"], issuer="us", audience="rovers")
    with pytest.raises(TokenRejectedError) as refused:
        verifier.role_of(jwt.encode({"role": "admin", **claims}, key, "RS256"))
    assert refused.value.reason == reason


def test_an_algorithm_outside_the_allow_list_is_refused() -> None:
    verifier = JwtVerifier(key="a shared secret of some length!!", algorithms=["RS256"])
    token = jwt.encode({"role": "admin", "exp": 2**40}, "a shared secret of some length!!", "HS256")
    with pytest.raises(TokenRejectedError) as refused:
        verifier.role_of(token)
    assert refused.value.reason == "TOKEN_ALGORITHM_NOT_ALLOWED"


def test_jwks_keys_are_chosen_by_kid(tmp_path: Path) -> None:
    first, second = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    jwks: dict[str, list[object]] = {"keys": []}
    for kid, key in (("one", first), ("two", second)):
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        jwks["keys"].append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    settings = AuthSettings(auth_jwks_file=str(path))
    verifier = build_verifier(settings)
    assert verifier is not None
    assert settings.auth_enabled
    claims = {"role": "viewer", "exp": 2**40}
    assert verifier.role_of(jwt.encode(claims, second, "ES256", headers={"kid": "two"})) == "viewer"
    with pytest.raises(TokenRejectedError) as wrong:  # signed by one, claiming to be two
        verifier.role_of(jwt.encode(claims, first, "ES256", headers={"kid": "two"}))
    assert wrong.value.reason == "TOKEN_SIGNATURE_INVALID"
    with pytest.raises(TokenRejectedError) as unknown:
        verifier.role_of(jwt.encode(claims, first, "ES256", headers={"kid": "three"}))
    assert unknown.value.reason == "TOKEN_KEY_UNKNOWN"


def test_settings_turn_auth_on_and_name_a_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not AuthSettings().auth_enabled
    assert build_verifier(AuthSettings()) is None
    monkeypatch.setenv("ROVER_AUTH_TOKENS", '{"dev-admin": "admin"}')
    on = load_settings(AuthSettings)
    assert on.auth_enabled
    assert "dev-admin" not in repr(on)
    assert "1 static" in on.describe_auth()
    monkeypatch.setenv("ROVER_AUTH_TOKENS", '{"dev-admin": admin}')
    with pytest.raises(SettingsError, match=r"^ROVER_AUTH_TOKENS: not valid JSON$"):
        load_settings(AuthSettings)
    monkeypatch.setenv("ROVER_AUTH_TOKENS", '{"dev": "pilot"}')
    with pytest.raises(SettingsError, match="ROVER_AUTH_TOKENS"):
        load_settings(AuthSettings)
    monkeypatch.delenv("ROVER_AUTH_TOKENS")
    for algorithms in ('["none"]', '["RS256", "XS1"]', "[]"):
        monkeypatch.setenv("ROVER_AUTH_JWT_ALGORITHMS", algorithms)
        with pytest.raises(SettingsError, match="ROVER_AUTH_JWT_ALGORITHMS"):
            load_settings(AuthSettings)
    monkeypatch.delenv("ROVER_AUTH_JWT_ALGORITHMS")
    monkeypatch.setenv("ROVER_AUTH_JWT_KEY", "-----BEGIN PUBLIC KEY-----\nnot a key\n")
    with pytest.raises(SettingsError, match="ROVER_AUTH_JWT_KEY"):
        load_settings(AuthSettings)
    monkeypatch.delenv("ROVER_AUTH_JWT_KEY")
    monkeypatch.setenv("ROVER_AUTH_JWKS_FILE", "/nonexistent/jwks.json")
    with pytest.raises(SettingsError, match="ROVER_AUTH_JWKS_FILE"):
        load_settings(AuthSettings)


def test_roles_are_ordered_weakest_first() -> None:
    assert ROLES == ("viewer", "operator", "admin")


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("127.0.0.1:50051", True),
        ("127.0.0.2:1", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("unix:/tmp/x.sock", True),
        ("0.0.0.0:50051", False),
        (":50051", False),
        ("[::]:50051", False),
        ("10.0.0.5:50051", False),
        ("rover.example:50051", False),
    ],
)
def test_local_addresses(address: str, local: bool) -> None:
    assert is_local_address(address) is local


def test_a_certificate_serves_as_the_jwt_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tokens")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    verifier = build_verifier(AuthSettings(auth_jwt_key=pem))
    assert verifier is not None
    token = jwt.encode({"role": "admin", "exp": 2**40}, key, "ES256")
    assert verifier.role_of(token) == "admin"
