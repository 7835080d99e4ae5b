"""The web front-end's TLS settings: the CLI's client variables and the services' server ones,
checked at start (an unreadable file or half a pair stops it, naming the variable or file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.up.certs import make_dev_certs
from services.web.bootstrap import build
from services.web.settings import WebSettings


async def test_without_tls_settings_it_serves_http_and_dials_plaintext() -> None:
    settings = WebSettings()
    assert not settings.tls_enabled
    assert settings.channel_credentials() is None
    app = build(settings)
    assert app.url.startswith("http://")
    await app.stop()


async def test_with_the_development_certificates_it_serves_https_and_dials_tls(
    tmp_path: Path,
) -> None:
    certs, _ = make_dev_certs(tmp_path)
    settings = WebSettings(
        tls_cert_file=str(certs.server),
        tls_key_file=str(certs.server_key),
        tls_ca_file=str(certs.ca),
        tls_client_cert_file=str(certs.client),
        tls_client_key_file=str(certs.client_key),
    )
    assert settings.channel_credentials() is not None
    app = build(settings)
    assert app.url.startswith("https://")
    await app.stop()


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"tls_ca_file": "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"),
        ({"tls_client_cert_file": "/x.pem"}, "ROVER_TLS_CLIENT_CERT_FILE"),
        ({"tls_cert_file": "/x.pem"}, "ROVER_TLS_CERT_FILE"),
        ({"tls_cert_file": "/no/s.pem", "tls_key_file": "/no/s.key"}, "/no/s.key"),
    ],
)
def test_a_bad_tls_setting_is_refused_at_start(values: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        WebSettings.model_validate(values)
