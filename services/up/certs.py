"""Development certificates: ``make certs`` (``python -m services.up.certs [--dir D] [--name N]``).

Writes, with the ``cryptography`` library, a development CA and a server and a client
certificate it signed under one folder (default ``.certs/``, gitignored):

    ca.pem  ca.key          the CA (trust ca.pem in clients; keep ca.key to sign more)
    server.pem  server.key  every server's certificate: localhost, 127.0.0.1, ::1 and --name
    client.pem  client.key  a client certificate, for mutual TLS (ROVER_TLS_CLIENT_CA_FILE)

Idempotent: files that exist, still cover every name asked for and are valid for another
30 days are kept (a new CA re-issues both leaves). Keys are written mode 0600. For
development only: the CA key sits next to the certificates (docs/security.md).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["DEFAULT_DIR", "DEFAULT_NAMES", "CertFiles", "main", "make_dev_certs"]

DEFAULT_DIR = Path(".certs")
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
"""Names every server certificate covers (``--name`` adds more)."""
_VALID_DAYS = 365
_RENEW_DAYS = 30
_Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class CertFiles:
    """Where the files of one development CA live."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    @property
    def client(self) -> Path:
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.folder / "client.key"


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_key(path: Path, key: _Key) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    path.chmod(0o600)  # an existing file keeps its mode through O_CREAT


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(
    subject: str,
    key: _Key,
    issuer: x509.Certificate | None,
    issuer_key: _Key,
    *,
    names: Sequence[str] = (),
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(n) for n in names]), critical=False
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _load(cert: Path, key: Path) -> tuple[x509.Certificate, _Key] | None:
    """A certificate and its key when both exist, parse and last another ``_RENEW_DAYS``."""
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (OSError, ValueError):
        return None
    renew_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=_RENEW_DAYS)
    if not isinstance(private, _Key) or certificate.not_valid_after_utc < renew_at:
        return None
    return certificate, private


def _covers(cert: x509.Certificate, names: Sequence[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return all(_san(name) in san for name in names)


def make_dev_certs(folder: Path = DEFAULT_DIR, names: Sequence[str] = ()) -> tuple[CertFiles, bool]:
    """Write (or keep) the development CA and certificates; returns them and whether any was
    (re)written. The server certificate covers :data:`DEFAULT_NAMES` and ``names``."""
    files = CertFiles(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = list(dict.fromkeys([*DEFAULT_NAMES, *names]))
    changed = False
    ca = _load(files.ca, files.ca_key)
    if ca is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (_issue("Mars Rover development CA", ca_key, None, ca_key), ca_key)
        _write_key(files.ca_key, ca_key)
        _write_cert(files.ca, ca[0])
        changed = True
    ca_cert, ca_key = ca
    server = _load(files.server, files.server_key)
    if changed or server is None or not _covers(server[0], wanted):
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH
        cert = _issue("rover server", key, ca_cert, ca_key, names=wanted, usage=usage)
        _write_key(files.server_key, key)
        _write_cert(files.server, cert)
        changed = True
    if changed or _load(files.client, files.client_key) is None:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
        cert = _issue("rover client", key, ca_cert, ca_key, names=["rover-client"], usage=usage)
        _write_key(files.client_key, key)
        _write_cert(files.client, cert)
        changed = True
    return files, changed


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m services.up.certs``: write the development certificates, say where."""
    parser = argparse.ArgumentParser(
        prog="python -m services.up.certs",
        description="Create a development CA and server/client certificates (docs/security.md).",
    )
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="folder (.certs)")
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        help="another host name or IP the server certificate covers (repeatable)",
    )
    args = parser.parse_args(argv)
    files, changed = make_dev_certs(args.dir, args.name)
    verb = "wrote" if changed else "kept (still valid)"
    sys.stdout.write(
        f"{verb} {files.ca}, {files.server}, {files.client} (and their .key files, mode 0600)\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
