"""The banner: every endpoint, every log, what was skipped, and a first command to try."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from services.cli.parser import build_parser
from services.cli.settings import CliSettings
from services.common.auth import AuthSettings
from services.up.banner import cli_access, render_banner, venv_command
from services.up.plan import build_plan
from services.up.secure import prepare_secure
from services.up.settings import UpSettings


def test_banner_lists_endpoints_logs_and_a_first_grpcurl(tmp_path: Path) -> None:
    settings = UpSettings.model_validate({"data_dir": tmp_path, "command_address": "0.0.0.0:7"})
    plan = build_plan(settings, redis_server="redis-server", available=lambda m: True)
    text = render_banner(plan, grpcurl=".venv/bin/grpcurl")
    assert "esdb://127.0.0.1:2113?tls=false" in text
    assert "redis://127.0.0.1:6380/0" in text
    assert "127.0.0.1:7  rover.v1.RoverCommandService" in text
    assert "127.0.0.1:50052  rover.v1.RoverQueryService" in text
    assert "127.0.0.1:50053  rover.v1.RoverLiveService" in text
    assert "http://127.0.0.1:8080/  the live map: open it in a browser" in text
    assert text.count("log: ") == 6
    assert str(tmp_path.resolve() / "logs" / "broadcaster.log") in text
    assert ".venv/bin/grpcurl -plaintext 127.0.0.1:7 list" in text
    assert "describe rover.v1.RoverCommandService" in text
    assert " -d " not in text  # read-only hints: trying them never changes what the tour shows
    assert "\n  rover grids\n" in text  # the default address needs no flag
    assert "skipped" not in text


def test_banner_names_what_was_skipped(tmp_path: Path) -> None:
    settings = UpSettings.model_validate({"data_dir": tmp_path})
    plan = build_plan(settings, redis_server="redis-server", available=lambda m: False)
    text = render_banner(plan)
    for name in ("command", "query", "broadcaster", "web"):
        assert f"{name:<12} skipped: services/{name} has no __main__ yet" in text
    assert "grpcurl -plaintext 127.0.0.1:2113 list" in text


def test_a_moved_query_service_is_named_before_the_subcommand(tmp_path: Path) -> None:
    settings = UpSettings.model_validate({"data_dir": tmp_path, "query_address": "127.0.0.1:9"})
    plan = build_plan(settings, redis_server="redis-server", available=lambda m: True)
    text = render_banner(plan, rover=".venv/bin/rover")
    assert ".venv/bin/rover --query-address 127.0.0.1:9 grids" in text


@pytest.mark.parametrize("field", ["command_address", "query_address", "broadcaster_address"])
def test_the_cli_dials_where_make_run_listens_by_default(field: str) -> None:
    assert CliSettings.model_fields[field].default == UpSettings.model_fields[field].default


def test_another_program_of_the_same_name_on_path_is_not_suggested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "rover"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert venv_command("rover") != "rover"
    assert venv_command("rover").endswith("bin/rover")


def test_banner_names_each_instance_its_address_and_its_log(tmp_path: Path) -> None:
    settings = UpSettings.model_validate(
        {"data_dir": tmp_path, "command_instances": 2, "broadcaster_instances": 3}
    )
    plan = build_plan(settings, redis_server="redis-server", available=lambda m: True)
    text = render_banner(plan, grpcurl="grpcurl")
    run, logs = tmp_path.resolve() / "run", tmp_path.resolve() / "logs"
    assert "  command      127.0.0.1:50051  rover.v1.RoverCommandService\n" in text
    assert "2 instances share it; each also on its own address:" in text
    assert "3 instances share it; each also on its own address:" in text
    for name in ("command-1", "command-2", "broadcaster-1", "broadcaster-2", "broadcaster-3"):
        assert f" {name}  unix:{run / name}.sock\n" in text
        assert f"log: {logs / name}.log" in text
    assert f"log: {logs / 'query'}.log" in text  # one instance: named as before
    assert text.count("log: ") == 9  # with the web front-end's
    assert "grpcurl -plaintext 127.0.0.1:50051 list" in text
    assert f"grpcurl -plaintext -unix {run / 'command-1'}.sock grpc.health.v1.Health/Check" in text


def test_banner_says_how_grpcurl_reaches_an_abstract_socket(tmp_path: Path) -> None:
    data = tmp_path / ("d" * 120)
    settings = UpSettings.model_validate({"data_dir": data, "query_instances": 2})
    plan = build_plan(settings, redis_server="redis-server", available=lambda m: True)
    first = next(c for c in plan.children if c.name == "query-1")
    name = first.instance_address.removeprefix("unix-abstract:")
    assert name != first.instance_address
    text = render_banner(plan, grpcurl="grpcurl")
    assert f" query-1  unix-abstract:{name}\n" in text
    assert f"grpcurl -plaintext -unix @{name} grpc.health.v1.Health/Check" in text


def test_web_instances_each_have_their_url(tmp_path: Path) -> None:
    settings = UpSettings.model_validate({"data_dir": tmp_path, "web_instances": 2})
    plan = build_plan(settings, redis_server="redis-server", available=lambda m: True)
    text = render_banner(plan)
    assert "web-1  http://127.0.0.1:8180/" in text
    assert "web-2  http://127.0.0.1:8280/" in text


def _rover_line(text: str) -> str:
    return next(line.strip() for line in text.splitlines() if line.endswith(" grids"))


@pytest.mark.parametrize("mutual", [False, True])
def test_the_secure_rover_hint_parses_with_the_clis_own_options(
    tmp_path: Path, mutual: bool
) -> None:
    settings = UpSettings.model_validate(
        {"data_dir": tmp_path / "data", "query_address": "127.0.0.1:9"}
    )
    secure = prepare_secure(tmp_path / "certs", AuthSettings())
    plan = build_plan(settings, redis_server="r", available=lambda m: True, secure=secure)
    auth = AuthSettings(auth_tokens=dict(secure.tokens))
    access = cli_access(auth, secure, mutual=mutual)
    words = shlex.split(_rover_line(render_banner(plan, rover="rover", access=access)))
    args = build_parser(CliSettings()).parse_args(words[1:])  # the CLI's parser, as pasted
    viewer = next(token for token, role in secure.tokens.items() if role == "viewer")
    assert (args.command, args.query_address) == ("grids", "127.0.0.1:9")
    assert (args.ca_file, args.token) == (str(secure.certs.ca), viewer)
    cert = (str(secure.certs.client), str(secure.certs.client_key)) if mutual else ("", "")
    assert (args.cert_file or "", args.key_file or "") == cert


def test_with_auth_on_and_no_token_made_the_hint_says_to_set_rover_token(tmp_path: Path) -> None:
    settings = UpSettings.model_validate({"data_dir": tmp_path})
    plan = build_plan(settings, redis_server="r", available=lambda m: True)
    access = cli_access(AuthSettings(auth_tokens={"mine": "admin"}), None, mutual=False)
    text = render_banner(plan, access=access)
    assert "\n  rover grids   (with ROVER_TOKEN set to a viewer's token)\n" in text
