"""TLS of our gRPC servers and clients: the ``ROVER_TLS_*`` settings and their credentials.

A server serves TLS when ``ROVER_TLS_CERT_FILE`` and ``ROVER_TLS_KEY_FILE`` are set, and asks
every client for a certificate signed by ``ROVER_TLS_CLIENT_CA_FILE`` when that is set too
(mutual TLS). A client trusts ``ROVER_TLS_CA_FILE`` (empty: the system's roots) and, for
mutual TLS, presents ``ROVER_TLS_CLIENT_CERT_FILE`` and ``ROVER_TLS_CLIENT_KEY_FILE``. Files are
read once, at start: a renewed certificate needs a restart (docs/security.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import grpc
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "TlsClientSettings",
    "TlsServerSettings",
    "channel_credentials",
]


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read the {what} {path!r}: {error.strerror}") from None


def server_credentials(
    cert_file: str, key_file: str, client_ca_file: str = ""
) -> grpc.ServerCredentials:
    """Credentials of a TLS server; with ``client_ca_file``, clients must present a
    certificate that it signed (ValueError naming an unreadable file)."""
    pair = (_read(key_file, "TLS key"), _read(cert_file, "TLS certificate"))
    if not client_ca_file:
        return grpc.ssl_server_credentials([pair])
    return grpc.ssl_server_credentials(
        [pair],
        root_certificates=_read(client_ca_file, "client CA certificate"),
        require_client_auth=True,
    )


def channel_credentials(
    ca_file: str = "", cert_file: str = "", key_file: str = ""
) -> grpc.ChannelCredentials:
    """Credentials of a TLS client: trust ``ca_file`` (empty: the system's roots) and present
    ``cert_file``/``key_file`` when given (mutual TLS)."""
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca_file, "CA certificate") if ca_file else None,
        private_key=_read(key_file, "client key") if key_file else None,
        certificate_chain=_read(cert_file, "client certificate") if cert_file else None,
    )


class TlsServerSettings(BaseSettings):
    """``ROVER_TLS_*`` of every rover server: its certificate, key and optional client CA."""

    model_config = SettingsConfigDict(env_prefix="ROVER_", extra="ignore", frozen=True)

    tls_cert_file: str = Field(
        default="",
        description=(
            "PEM certificate (chain) this server presents; with ROVER_TLS_KEY_FILE it serves "
            "TLS only. Empty: plaintext (docs/security.md)."
        ),
    )
    tls_key_file: str = Field(
        default="", description="PEM private key of ROVER_TLS_CERT_FILE (keep it mode 0600)."
    )
    tls_client_ca_file: str = Field(
        default="",
        description=(
            "PEM CA certificate(s): set, every client must present a certificate it signed "
            "(mutual TLS). Empty: no client certificate is asked for."
        ),
    )

    @model_validator(mode="after")
    def _files_together(self) -> Self:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("ROVER_TLS_CERT_FILE and ROVER_TLS_KEY_FILE go together")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ValueError("ROVER_TLS_CLIENT_CA_FILE needs ROVER_TLS_CERT_FILE and _KEY_FILE")
        if self.tls_cert_file:
            self.server_credentials()  # an unreadable file fails at start, naming it
        return self

    @property
    def tls_enabled(self) -> bool:
        """Whether this server serves TLS."""
        return bool(self.tls_cert_file)

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """The server's credentials (None: plaintext)."""
        if not self.tls_enabled:
            return None
        return server_credentials(self.tls_cert_file, self.tls_key_file, self.tls_client_ca_file)

    def describe_tls(self) -> str:
        """One line for people: how this server's connections are protected."""
        if not self.tls_enabled:
            return "off (plaintext)"
        return "on, client certificates required" if self.tls_client_ca_file else "on"


class TlsClientSettings(BaseSettings):
    """``ROVER_TLS_CA_FILE`` and the client certificate of a client of our servers."""

    model_config = SettingsConfigDict(env_prefix="ROVER_", extra="ignore", frozen=True)

    tls_ca_file: str = Field(
        default="",
        description=(
            "PEM CA certificate the client trusts for the services' certificates; set: the "
            "client dials TLS (--ca-file). Empty: plaintext, unless a client certificate is "
            "set (then TLS trusting the system's roots)."
        ),
    )
    tls_client_cert_file: str = Field(
        default="", description="PEM client certificate for mutual TLS (--cert-file)."
    )
    tls_client_key_file: str = Field(
        default="", description="PEM private key of the client certificate (--key-file)."
    )

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """The client's TLS credentials (None: plaintext)."""
        if not (self.tls_ca_file or self.tls_client_cert_file):
            return None
        return channel_credentials(
            self.tls_ca_file, self.tls_client_cert_file, self.tls_client_key_file
        )
