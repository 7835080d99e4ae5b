"""``python -m services.up`` (``make run``): the whole system on this machine, one command.

Starts the embedded event store, a redis-server of its own, then the command, query and
broadcaster services (those that exist), waits for each to be ready, prints the endpoints,
and on Ctrl-C or SIGTERM stops everything in reverse order. Exit status: 0 after a clean
stop; 1 when something failed to start, died, or had to be killed; 2 for bad settings.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from services.common.auth import AuthSettings
from services.common.logs import SafeStream, configure_logging, get_logger
from services.common.settings_text import SettingsError, env_name, load_settings, settings_help
from services.common.tls import TlsServerSettings
from services.up.banner import CliAccess, cli_access, grpcurl_command, render_banner, venv_command
from services.up.data_lock import DataDirBusyError, DataDirLock
from services.up.environment import Inherited, inherited_environment
from services.up.exposure import auth_line, check_exposure
from services.up.integration_key import ensure_integration_key, integration_key_path
from services.up.plan import Plan, build_plan
from services.up.ports import PortInUseError, check_ports
from services.up.redis_binary import RedisMissingError, find_redis_server
from services.up.secure import ADMIN_USER, SecureRun, grant_service_access, prepare_secure
from services.up.settings import UpSettings
from services.up.supervisor import Supervisor

__all__ = ["main"]


def _fail(message: str, status: int = 1) -> int:
    sys.stderr.write(f"services.up: {message}\n")
    return status


async def _supervise(
    settings: UpSettings,
    plan: Plan,
    auth: str,
    *,
    secure: SecureRun | None = None,
    access: CliAccess = CliAccess(),  # noqa: B008 - frozen, never changed
    inherited: Inherited | None = None,
) -> int:
    after_ready = {}
    if secure is not None:
        store = next(child for child in plan.children if child.name == "eventstore")
        admin = secure.store_uri(store.endpoint.dial, ADMIN_USER)
        after_ready["eventstore"] = lambda: grant_service_access(admin)
    supervisor = Supervisor(
        plan.children,
        start_timeout=settings.up_start_timeout,
        stop_timeout=settings.up_stop_timeout,
        after_ready=after_ready,
        environ=None if inherited is None else inherited.env,
    )
    log = get_logger(__name__)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def _on_signal(sig: signal.Signals) -> None:
        # Act first, log after: a log write to a dead pipe must never lose the signal.
        if stop.is_set():
            supervisor.kill_all()
            log.warning("second signal: killed what was left", signal=sig.name)
            return
        stop.set()
        log.info("shutdown signal received; stopping in reverse order", signal=sig.name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, sig)

    def _ready() -> None:
        out = SafeStream(sys.stdout)
        rover = venv_command("rover")
        banner = render_banner(plan, grpcurl_command(), rover, auth=auth, access=access)
        out.write(banner + "\n")
        out.flush()
        log.info("all children ready", children=[c.name for c in plan.children])

    try:
        status = await supervisor.run(stop, _ready)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("stopped", order=supervisor.stopped, exit_status=status)
    return status


def _claim(settings: UpSettings, secure: SecureRun | None) -> tuple[Plan, DataDirLock]:
    """The plan, with its data folder locked: an owner is refused before its ports look taken."""
    redis_server = find_redis_server(settings.redis_server or None)
    plan = build_plan(settings, redis_server=redis_server, secure=secure)
    lock = DataDirLock(plan.data_dir)
    if plan.data_dir.exists():
        lock.acquire()
    try:
        check_ports(plan.children)
        lock.acquire()
    except BaseException:
        lock.release()
        raise
    return plan, lock


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in {"-h", "--help"}:
        sys.stdout.write(f"usage: python -m services.up   (make run)\n\n{__doc__}\n")
        sys.stdout.write(settings_help(UpSettings) + "\n")
        return 0
    if args:
        return _fail(f"takes no arguments (settings are ROVER_* variables), got {args}", 2)
    try:
        settings = load_settings(UpSettings)
        auth = load_settings(AuthSettings)  # what the services will read (they inherit it)
        check_exposure(settings, auth)
    except (SettingsError, ValueError) as error:
        return _fail(f"invalid setting: {error}", 2)
    configure_logging(level=settings.log_level, fmt=settings.log_format, service="up")
    try:
        secure = prepare_secure(settings.certs_dir, auth) if settings.secure else None
    except OSError as error:
        return _fail(f"cannot write the certificates in {settings.certs_dir}: {error}")
    if secure is not None and secure.tokens:
        auth = AuthSettings(auth_tokens=dict(secure.tokens))
    try:
        plan, lock = _claim(settings, secure)
    except (RedisMissingError, PortInUseError, DataDirBusyError, OSError) as error:
        return _fail(str(error))
    except ValueError as error:
        return _fail(str(error), 2)
    with lock:
        for folder in (plan.data_dir / "eventstore", plan.data_dir / "redis", plan.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        ensure_integration_key(integration_key_path(plan.data_dir))
        log = get_logger(__name__)
        for name in plan.skipped:
            log.warning("skipped: module not written yet", child=name, module=f"services.{name}")
        log.info("starting", data_dir=str(plan.data_dir), order=[c.name for c in plan.children])
        inherited = inherited_environment(os.environ, secure=secure is not None)
        if inherited.dropped:
            log.warning(
                "plaintext run: left out of the children's environment",
                variables=list(inherited.dropped),
                hint="make run-secure serves TLS with store users",
            )
        line = "\n".join(filter(None, [auth_line(settings, auth, secure), inherited.banner_line()]))
        # make run-secure honours the user's client CA (mutual TLS): the hint then presents
        # the development client certificate
        mutual = bool(os.environ.get(env_name(TlsServerSettings, "tls_client_ca_file")))
        access = cli_access(auth, secure, mutual=mutual)
        return asyncio.run(
            _supervise(settings, plan, line, secure=secure, access=access, inherited=inherited)
        )


if __name__ == "__main__":
    sys.exit(main())
