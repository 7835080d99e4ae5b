"""Settings of the web front-end, from ``ROVER_*`` environment variables."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from services.common.settings import ServiceSettings, metrics_address_field
from services.common.tls import TlsClientSettings, TlsServerSettings

__all__ = ["WebSettings"]


class WebSettings(TlsClientSettings, TlsServerSettings, ServiceSettings):
    """``ROVER_WEB_*``, where the services it forwards to listen (the CLI's variables), the TLS
    it dials them with (the CLI's ``ROVER_TLS_CA_FILE`` and client certificate) and the
    certificate it serves HTTPS with (the services' ``ROVER_TLS_CERT_FILE``/``_KEY_FILE``)."""

    web_address: str = Field(
        default="127.0.0.1:8080",
        description=(
            "host:port the web page, its JSON API and its live stream listen on (HTTPS with "
            "ROVER_TLS_CERT_FILE and ROVER_TLS_KEY_FILE, else HTTP)."
        ),
    )
    command_address: str = Field(
        default="127.0.0.1:50051", description="The command service the page's commands go to."
    )
    query_address: str = Field(
        default="127.0.0.1:50052", description="The query service the page's queries go to."
    )
    broadcaster_address: str = Field(
        default="127.0.0.1:50053",
        description="The broadcaster whose WatchGrid feeds the page's live stream.",
    )
    web_metrics_address: str = metrics_address_field("127.0.0.1:9105")
    web_call_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Deadline of each command or query the page forwards."
    )
    tls_client_ca_file: str = Field(
        default="",
        description=(
            "Not applied by the web front-end: browsers are not asked for a client certificate "
            "(the page's callers prove who they are with tokens; docs/web.md, Security)."
        ),
    )

    @model_validator(mode="after")
    def _client_files_readable(self) -> Self:
        if bool(self.tls_client_cert_file) != bool(self.tls_client_key_file):
            raise ValueError("ROVER_TLS_CLIENT_CERT_FILE and ROVER_TLS_CLIENT_KEY_FILE go together")
        self.channel_credentials()  # an unreadable file fails at start, naming it
        return self
