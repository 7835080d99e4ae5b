"""Before starting anything: is every port free, and do no two services share one?

Instances of one service share its port on purpose (``ROVER_SHARE_PORT``); it is checked once.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from services.up.child import ChildSpec
from services.up.endpoints import Endpoint

__all__ = ["PortInUseError", "check_ports", "port_is_free"]


class PortInUseError(RuntimeError):
    """A port the plan needs is taken; the message names the setting to change."""


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (SO_REUSEADDR, as servers bind)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return True  # an unresolvable host is the child's error to report, not a taken port
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError:
                return False
    return True


def check_ports(children: Sequence[ChildSpec]) -> None:
    """Raise :class:`PortInUseError` listing every conflict (shared or taken ports), gRPC
    and metrics alike."""
    problems: list[str] = []
    owners: dict[int, tuple[str, Endpoint]] = {}
    for child in children:
        places = [(child.group, child.endpoint, True)]
        if child.metrics is not None:
            places.append((f"{child.name} metrics", child.metrics, False))
        for owner, endpoint, shared in places:
            other = owners.get(endpoint.port)
            if other is not None and shared and other[0] == owner:
                continue  # another instance of the same service: checked with the first
            if other is not None:
                problems.append(
                    f"{owner} and {other[0]} are both set to port {endpoint.port}: "
                    f"change {endpoint.setting} or {other[1].setting}"
                )
                continue
            owners[endpoint.port] = (owner, endpoint)
            if not port_is_free(endpoint.host, endpoint.port):
                problems.append(
                    f"port {endpoint.port} on {endpoint.host} ({owner}) is already in use: "
                    f"stop what listens there (`ss -ltnp 'sport = :{endpoint.port}'`) "
                    f"or set {endpoint.setting} to a free port"
                )
    if problems:
        raise PortInUseError("\n".join(["ports in use:", *(f"  - {p}" for p in problems)]))
