"""Every RPC of every service in protos/rover/v1, read from the generated descriptors."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import protos.rover.v1

__all__ = ["Rpc", "all_rpcs"]


@dataclass(frozen=True, slots=True)
class Rpc:
    """One RPC: its full method name (``/package.Service/Method``) and whether it streams."""

    method: str
    service: str
    server_streaming: bool


def all_rpcs() -> list[Rpc]:
    """Each method of each service of every .proto file in protos/rover/v1 (a new file too)."""
    out = []
    folder = Path(protos.rover.v1.__file__).parent
    for proto in sorted(folder.glob("*.proto")):
        module = importlib.import_module(f"protos.rover.v1.{proto.stem}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                out.append(
                    Rpc(
                        f"/{service.full_name}/{method.name}",
                        service.full_name,
                        method.server_streaming,
                    )
                )
    return out
