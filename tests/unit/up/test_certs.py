"""``make certs``: a CA that signs a server certificate for our names and a client
certificate; private keys mode 0600; a second run keeps valid files; a new name re-issues."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509

from services.up.certs import DEFAULT_NAMES, main, make_dev_certs


def _names(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(san.get_values_for_type(x509.DNSName)) | ips


def test_writes_a_ca_and_certificates_it_signed(tmp_path: Path) -> None:
    files, changed = make_dev_certs(tmp_path / "certs")
    assert changed
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    for leaf in (files.server, files.client):
        cert = x509.load_pem_x509_certificate(leaf.read_bytes())
        cert.verify_directly_issued_by(ca)  # raises when the CA did not sign it
    assert _names(files.server) == set(DEFAULT_NAMES)
    assert str(ipaddress.ip_address("::1")) in _names(files.server)
    for key in (files.ca_key, files.server_key, files.client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_second_run_keeps_the_files(tmp_path: Path) -> None:
    files, _ = make_dev_certs(tmp_path)
    before = files.server.read_bytes(), files.ca.read_bytes()
    _, changed = make_dev_certs(tmp_path)
    assert not changed
    assert (files.server.read_bytes(), files.ca.read_bytes()) == before


def test_a_new_name_reissues_the_server_certificate_under_the_same_ca(tmp_path: Path) -> None:
    files, _ = make_dev_certs(tmp_path)
    ca = files.ca.read_bytes()
    _, changed = make_dev_certs(tmp_path, ["rover.example.org", "10.0.0.7"])
    assert changed
    assert files.ca.read_bytes() == ca
    assert {"rover.example.org", "10.0.0.7"} <= _names(files.server)


def test_command_line(tmp_path: Path) -> None:
    assert main(["--dir", str(tmp_path), "--name", "mars.local"]) == 0
    assert "mars.local" in _names(tmp_path / "server.pem")
