"""The ``ROVER_INTEGRATION_KEYS`` / ``ROVER_INTEGRATION_KEY_FILE`` settings of every service
that writes or reads integration events, and the keys they name."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.integration_signing import IntegrationKeys, parse_keys
from services.common.logs import get_logger

__all__ = ["IntegrationKeySettings", "announce_keys", "integration_keys"]

_log = get_logger(__name__)


class IntegrationKeySettings(BaseSettings):
    """Which keys sign and verify integration events (services/common/integration_signing)."""

    model_config = SettingsConfigDict(env_prefix="ROVER_", extra="ignore", frozen=True)

    integration_keys: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "HMAC keys (at least 16 characters each, separated by commas) that sign and verify "
            "integration events; the first signs, every one verifies (rotation). Empty, and no "
            "key file: events are unsigned and not verified, and each service warns at start. "
            "`make run` sets a key file of its own."
        ),
    )
    integration_key_file: Path | None = Field(
        default=None,
        description=(
            "A file of further integration keys, one a line, after ROVER_INTEGRATION_KEYS "
            "(the first key of both signs). `make run` writes one per data directory."
        ),
    )


def integration_keys(settings: IntegrationKeySettings) -> IntegrationKeys:
    """The configured keys (ValueError for a weak key; OSError for an unreadable file)."""
    text = settings.integration_keys.get_secret_value()
    if settings.integration_key_file is not None:
        text += "\n" + settings.integration_key_file.read_text(encoding="utf-8")
    return IntegrationKeys(parse_keys(text))


async def announce_keys(keys: IntegrationKeys, service: str) -> None:
    """Log, once a service serves (a one-shot background step, so not from the offline
    commands that only open a service), which key signs, or a warning that integration
    events are not protected."""
    if keys.enabled:
        _log.info("integration events are signed and verified", service=service, keys=keys.ids)
        return
    _log.warning(
        "NO INTEGRATION KEY: integration events are neither signed nor verified, so anyone "
        "who can append to integration-* streams can change read models and watches; set "
        "ROVER_INTEGRATION_KEYS or ROVER_INTEGRATION_KEY_FILE (docs/security.md)",
        service=service,
    )
