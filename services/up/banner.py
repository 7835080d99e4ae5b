"""The text people read when the system is up: endpoints, logs, and a first command to try."""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from services.common.auth import ROLES, AuthSettings
from services.up.child import ChildSpec, Plan
from services.up.secure import SecureRun
from services.up.settings import UpSettings

__all__ = ["CliAccess", "cli_access", "grpcurl_command", "render_banner", "venv_command"]

# Where the CLI dials the query service when not told otherwise: the CLI's default is the
# services' default (tests/unit/up/test_banner.py holds them equal).
_CLI_QUERY_DEFAULT = str(UpSettings.model_fields["query_address"].default)


def venv_command(name: str) -> str:
    """How to call one of the venv's programs from here: its bare name when PATH finds this
    venv's (not another program of that name), else its path (relative to the current folder
    when below it), so a printed hint works as printed."""
    venv_binary = Path(sys.executable).parent / name
    on_path = shutil.which(name)
    if on_path and Path(on_path).resolve() == venv_binary.resolve():
        return name  # the venv is active: the bare name is ours
    try:
        return str(venv_binary.relative_to(Path.cwd()))
    except ValueError:
        return str(venv_binary)


def grpcurl_command() -> str:
    """How to call grpcurl here."""
    return venv_command("grpcurl")


def grpcurl_target(address: str) -> str:
    """grpcurl's words for a gRPC address: ``-unix PATH`` (``@NAME`` if abstract) or host:port."""
    if address.startswith("unix:"):
        return f"-unix {shlex.quote(address.removeprefix('unix:'))}"
    if address.startswith("unix-abstract:"):
        return f"-unix @{shlex.quote(address.removeprefix('unix-abstract:'))}"
    return address


def _security(child: ChildSpec) -> str:
    """grpcurl's words for how to reach ``child``: plaintext, or TLS trusting its CA."""
    return f"-cacert {shlex.quote(child.ca_file)}" if child.ca_file else "-plaintext"


def web_url(child: ChildSpec) -> str:
    """Where a browser opens the web front-end ``child`` (https when it serves TLS)."""
    scheme = "https" if child.ca_file else "http"
    return f"{scheme}://{child.endpoint.dial}/"


@dataclass(frozen=True, slots=True)
class CliAccess:
    """What the banner's ``rover`` hint needs besides the address and the CA, so that it works
    as pasted: a token to send, and the client certificate when the services ask for one."""

    token: str = ""
    """A token of the weakest role (the hint only reads); '' when none was made here."""
    auth_on: bool = False
    """Calls need a token; without :attr:`token` the hint says to set ROVER_TOKEN."""
    client_cert: tuple[str, str] | None = None
    """(certificate, key) to present: the services want mutual TLS."""


def cli_access(auth: AuthSettings, secure: SecureRun | None, *, mutual: bool) -> CliAccess:
    """The ``rover`` hint's access: the weakest token ``secure`` made (the hint only reads),
    whether auth is on, and with ``mutual`` (ROVER_TLS_CLIENT_CA_FILE under make run-secure)
    the development client certificate."""
    tokens = secure.tokens if secure is not None else {}
    weakest = next((token for token, role in tokens.items() if role == ROLES[0]), "")
    cert = (
        (str(secure.certs.client), str(secure.certs.client_key))
        if secure is not None and mutual
        else None
    )
    return CliAccess(token=weakest, auth_on=auth.auth_enabled, client_cert=cert)


def rover_hint(rover: str, query: ChildSpec, access: CliAccess) -> str:
    """``rover ... grids`` as it works pasted: the query service's address unless it is the
    CLI's default, the CA with TLS, the token with auth, the client certificate with mutual
    TLS (the CLI's option names: tests/unit/up/test_banner.py parses it with the CLI's
    parser)."""
    words = [rover]
    if query.endpoint.dial != _CLI_QUERY_DEFAULT:
        words += ["--query-address", query.endpoint.dial]
    if query.ca_file:
        words += ["--ca-file", query.ca_file]
    if access.client_cert is not None:
        words += ["--cert-file", access.client_cert[0], "--key-file", access.client_cert[1]]
    if access.token:
        words += ["--token", access.token]
    hint = " ".join([words[0], *(shlex.quote(word) for word in words[1:]), "grids"])
    if access.auth_on and not access.token:
        hint += "   (with ROVER_TOKEN set to a viewer's token)"
    return hint


def _service_lines(children: list[ChildSpec]) -> list[str]:
    """One service (or the store, or Redis): where it listens, its instances, their logs."""
    first = children[0]
    if first.name == "eventstore":
        where = f"esdb://{first.endpoint.dial}?tls={'true' if first.ca_file else 'false'}"
    elif first.name == "redis":
        where = f"redis://{first.endpoint.dial}/0"
    elif first.probe == "http":
        where = f"{web_url(first)}  the live map: open it in a browser"
    else:
        where = f"{first.endpoint.dial}  {first.grpc_service}"
    lines = [f"  {first.group:<12} {where}"]
    if len(children) == 1:
        if first.metrics_url:
            lines.append(f"  {'':<12} metrics: {first.metrics_url}")
        return [*lines, f"  {'':<12} log: {first.log_path}"]
    if first.probe == "http":  # web instances: each on a port of its own
        for child in children:
            lines.append(f"  {'':<12} {child.name}  {web_url(child)}")
            if child.metrics_url:
                lines.append(f"  {'':<12} metrics: {child.metrics_url}")
            lines.append(f"  {'':<12} log: {child.log_path}")
        return lines
    lines.append(f"  {'':<12} {len(children)} instances share it; each also on its own address:")
    width = max(len(child.name) for child in children)
    for child in children:
        lines.append(f"  {'':<12} {child.name:<{width}}  {child.instance_address}")
        if child.metrics_url:
            lines.append(f"  {'':<12} {'':<{width}}  metrics: {child.metrics_url}")
        lines.append(f"  {'':<12} {'':<{width}}  log: {child.log_path}")
    return lines


def render_banner(
    plan: Plan,
    grpcurl: str = "grpcurl",
    rover: str = "rover",
    *,
    auth: str = "",
    access: CliAccess = CliAccess(),
) -> str:
    """The startup banner for ``plan``, whose children are all ready; ``auth``: its line;
    ``access``: what the ``rover`` hint sends (:func:`cli_access`)."""
    lines = ["", f"Mars Rover is up. Data: {plan.data_dir}", *([auth] if auth else []), ""]
    groups = [list(group) for _, group in groupby(plan.children, key=lambda c: c.group)]
    for group in groups:
        lines += _service_lines(group)
    for name in plan.skipped:
        lines.append(f"  {name:<12} skipped: services/{name} has no __main__ yet")
    services = {group[0].group: group[0] for group in groups}
    lines += ["", "Try:"]
    command = services.get("command")
    query = services.get("query")
    if command is not None:
        how = _security(command)
        lines.append(f"  {grpcurl} {how} {command.endpoint.dial} list")
        # Read-only hints: whatever a newcomer tries first must not change what the tour shows.
        lines.append(
            f"  {grpcurl} {how} {command.endpoint.dial} describe rover.v1.RoverCommandService"
        )
    else:
        store = services["eventstore"]
        lines.append(f"  {grpcurl} {_security(store)} {store.endpoint.dial} list")
    if query is not None:
        lines.append(f"  {rover_hint(rover, query, access)}")
    instance = next((c for c in plan.children if c.instance_address), None)
    if instance is not None:  # one instance among several, through its own address
        target = grpcurl_target(instance.instance_address)
        lines.append(f"  {grpcurl} -plaintext {target} grpc.health.v1.Health/Check")
    lines += [
        "",
        "`make shell` opens a shell with rover and grpcurl on PATH.",
        "The tour: docs/tour.md. Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)
