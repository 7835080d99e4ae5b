"""``host:port`` addresses of the children, and the setting that moves each one."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Endpoint", "parse_address"]

_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - names, not a bind


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a child listens, and the setting a user changes to move it."""

    host: str
    port: int
    setting: str

    @property
    def dial_host(self) -> str:
        """The host a local client connects to (a wildcard host means this machine)."""
        return "127.0.0.1" if self.host in _WILDCARD_HOSTS else self.host

    @property
    def dial(self) -> str:
        """``host:port`` a local client connects to (a wildcard host means this machine)."""
        host = self.dial_host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


def parse_address(value: str, setting: str) -> Endpoint:
    """``host:port`` or ``[v6]:port`` to an :class:`Endpoint`; ``ValueError`` names the setting."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{setting}={value!r} is not host:port (e.g. 127.0.0.1:50051)")
    return Endpoint(host=host.strip("[]") or "0.0.0.0", port=int(port_text), setting=setting)  # noqa: S104
