"""``make run-secure``: the whole system over TLS with auth on. The CLI and grpcurl trust the
development CA and send the banner's tokens; create, land, drive, query and watch work;
plaintext is refused on every service, examples/client.py works with the CA and a token, the
store refuses anonymous reads of ``$all``, and the web front-end serves its API and live stream
over HTTPS (trusting the CA, forwarding the token; with mutual TLS presenting its client
certificate to the services)."""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from esdbclient.protos.Grpc import streams_pb2, streams_pb2_grpc

from services.common.tls import channel_credentials
from services.up.probes import http_ready
from tests.e2e.system import GRPCURL, ROOT, System

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    running = System(tmp_path / "rover-data")
    running.env["ROVER_SECURE"] = "true"
    running.env["ROVER_CERTS_DIR"] = str(tmp_path / "certs")
    try:
        yield running
    finally:
        running.kill()


def _tokens(banner: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(viewer|operator|admin)\s+token: (\S+)$", banner, re.M))


def _run_the_banners_rover_hint(system: System, banner: str) -> str:
    """Runs the banner's ``rover ... grids`` hint as printed; its output."""
    hint = next(line.strip() for line in banner.splitlines() if line.endswith(" grids"))
    done = system.run(hint)
    assert done.returncode == 0, f"{hint}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _run_the_api_docs_python_over_tls(system: System, ca: Path, token: str) -> str:
    """Runs docs/api.md's Python example over TLS with a token, pointed at this system."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    (code,) = [
        block
        for block in re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
        if "access_token_call_credentials" in block
    ]
    code = code.replace(".certs/ca.pem", str(ca)).replace("<viewer token>", token)
    code = code.replace("localhost:50052", f"localhost:{system.ports['query']}")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT, env=system.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _anonymous_read_all(port: int, ca: Path) -> grpc.StatusCode:
    request = streams_pb2.ReadReq()
    request.options.all.start.SetInParent()
    request.options.count = 1
    request.options.no_filter.SetInParent()
    request.options.uuid_option.string.SetInParent()
    with grpc.secure_channel(f"127.0.0.1:{port}", channel_credentials(str(ca))) as channel:
        stub = streams_pb2_grpc.StreamsStub(channel)  # type: ignore[no-untyped-call]
        try:
            list(stub.Read(request, timeout=10))
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
    return grpc.StatusCode.OK


def _web(system: System, ca: Path, token: str = "") -> httpx.Client:
    """A client of the web front-end over HTTPS that trusts only ``ca``; sends ``token``."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=f"https://127.0.0.1:{system.ports['web']}",
        verify=ssl.create_default_context(cafile=str(ca)),
        headers=headers,
        timeout=30,
    )


def _call(web: httpx.Client, method: str, body: dict[str, object]) -> httpx.Response:
    return web.post(f"/api/rover.v1.{method}", json=body)


def _first_live_event(web: httpx.Client, grid_id: str) -> tuple[str, str]:
    """The first SSE event of ``/live/{grid_id}``: its ``event:`` name and ``data:``."""
    fields: dict[str, str] = {}
    with web.stream("GET", f"/live/{grid_id}") as stream:
        assert stream.status_code == 200, stream.read()
        for line in stream.iter_lines():
            if not line:
                break
            name, _, value = line.partition(": ")
            fields[name] = value
    return fields.get("event", ""), fields.get("data", "")


def _check_the_web_front_end_over_https(system: System, ca: Path, tokens: dict[str, str]) -> None:
    """Create a grid, land and drive a rover, read the live stream's first event, all over
    HTTPS with a token; without one the services refuse; the readiness probe trusts the CA."""
    port = system.ports["web"]
    assert f"https://127.0.0.1:{port}/" in system.out.read_text()
    assert asyncio.run(http_ready("127.0.0.1", port, 10.0, ca_file=str(ca)))
    assert not asyncio.run(http_ready("127.0.0.1", port, 10.0))  # plain HTTP: no answer
    with _web(system, ca, tokens["operator"]) as web:
        steps: list[tuple[str, dict[str, object]]] = [
            ("RoverCommandService/CreateGrid", {"gridId": "web", "width": 5, "height": 5}),
            (
                "RoverCommandService/CreateRover",
                {
                    "gridId": "web",
                    "roverId": "curiosity",
                    "position": {"x": 0, "y": 0},
                    "facing": "DIRECTION_NORTH",
                },
            ),
            (
                "RoverCommandService/ExecuteRoverCommands",
                {"gridId": "web", "roverId": "curiosity", "commands": "FFR"},
            ),
        ]
        for method, body in steps:
            done = _call(web, method, body)
            assert done.status_code == 200, f"{method}: {done.text}"
        event, data = _first_live_event(web, "web")
        assert event == "snapshot", data
        assert "curiosity" in data
    with _web(system, ca) as anonymous:
        refused = _call(anonymous, "RoverQueryService/ListGrids", {})
        assert (refused.status_code, refused.json()["code"]) == (401, "UNAUTHENTICATED")
        refused = _call(anonymous, "RoverCommandService/CreateGrid", {"gridId": "x", "width": 2})
        assert refused.status_code == 401, refused.text
    with httpx.Client(timeout=10) as plain, pytest.raises(httpx.TransportError):
        plain.get(f"http://127.0.0.1:{port}/readyz")


def test_the_system_over_tls_with_auth_on(system: System, tmp_path: Path) -> None:
    system.start()
    banner = system.out.read_text()
    assert "TLS: on" in banner
    assert "tls=true" in banner
    tokens = _tokens(banner)
    assert sorted(tokens) == ["admin", "operator", "viewer"]
    ca = tmp_path / "certs" / "ca.pem"
    secure = f"--ca-file {ca}"
    operator = f"{secure} --token {tokens['operator']}"
    viewer = f"{secure} --token {tokens['viewer']}"

    steps = [
        f".venv/bin/rover {operator} grid create --width 5 --height 5 --id mars --obstacle 2,2",
        f".venv/bin/rover {operator} land mars --at 0,0 --facing N --id spirit",
        f".venv/bin/rover {operator} drive mars spirit FFRFF",
    ]
    for step in steps:
        done = system.run(step)
        assert done.returncode == 0, f"{step}\n{done.stdout}\n{done.stderr}"

    listed = system.run(f".venv/bin/rover {viewer} grids")
    assert listed.returncode == 0, listed.stderr
    assert "mars" in listed.stdout
    assert "mars" in _run_the_banners_rover_hint(system, banner)
    assert "mars" in _run_the_api_docs_python_over_tls(system, ca, tokens["viewer"])
    weak = system.run(f".venv/bin/rover {viewer} land mars --at 4,4 --facing S --id opportunity")
    assert weak.returncode == 1
    assert "PERMISSION_DENIED" in weak.stderr
    plaintext = system.run(f".venv/bin/rover --token {tokens['viewer']} grids")
    assert plaintext.returncode == 3
    assert "--ca-file or ROVER_TLS_CA_FILE" in plaintext.stderr

    live = f"127.0.0.1:{system.ports['live']}"
    watched = subprocess.run(
        [
            str(GRPCURL), "-cacert", str(ca), "-max-time", "5",
            "-H", f"authorization: Bearer {tokens['viewer']}",
            "-d", '{"grid_id": "mars"}', live, "rover.v1.RoverLiveService/WatchGrid",
        ],
        cwd=ROOT, env=system.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert '"snapshot"' in watched.stdout, watched.stderr
    assert '"rover_id": "spirit"' in watched.stdout, watched.stdout
    for name in ("cmd", "query", "live"):
        refused = subprocess.run(
            [str(GRPCURL), "-plaintext", "-max-time", "5", f"localhost:{system.ports[name]}",
             "list"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert refused.returncode != 0

    example = subprocess.run(
        [sys.executable, "examples/client.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={
            **system.env, "ROVER_TLS_CA_FILE": str(ca), "ROVER_TOKEN": tokens["operator"],
            "ROVER_COMMAND_ADDRESS": f"localhost:{system.ports['cmd']}",
            "ROVER_QUERY_ADDRESS": f"localhost:{system.ports['query']}",
        },
    )  # fmt: skip
    assert example.returncode == 0, example.stderr

    assert _anonymous_read_all(system.ports["store"], ca) == grpc.StatusCode.PERMISSION_DENIED
    _check_the_web_front_end_over_https(system, ca, tokens)
    code, _ = system.stop()
    assert code == 0


def test_mutual_tls_with_the_development_client_certificate(system: System, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    system.env["ROVER_TLS_CLIENT_CA_FILE"] = str(certs / "ca.pem")
    system.start()
    _run_the_banners_rover_hint(system, system.out.read_text())  # with the client certificate
    viewer = _tokens(system.out.read_text())["viewer"]
    tls = f"--ca-file {certs / 'ca.pem'} --token {viewer}"
    with_cert = f"{tls} --cert-file {certs / 'client.pem'} --key-file {certs / 'client.key'}"
    listed = system.run(f".venv/bin/rover {with_cert} grids")
    assert listed.returncode == 0, listed.stderr
    assert system.run(f".venv/bin/rover {tls} grids").returncode != 0
    with _web(system, certs / "ca.pem", viewer) as web:  # it presents its client certificate
        listed_on_the_web = _call(web, "RoverQueryService/ListGrids", {})
        assert listed_on_the_web.status_code == 200, listed_on_the_web.text
    code, _ = system.stop()
    assert code == 0
