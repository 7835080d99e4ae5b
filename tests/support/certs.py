"""Development certificates for tests: one CA per session (services/up/certs.py), and a
second, unrelated CA for the cases that must not be trusted."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.up.certs import CertFiles, make_dev_certs

__all__ = ["CertFiles", "dev_certs", "other_certs"]


@pytest.fixture(scope="session")
def dev_certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """A CA, a server certificate for localhost/127.0.0.1/::1 and a client certificate."""
    files, _ = make_dev_certs(tmp_path_factory.mktemp("certs"))
    return files


@pytest.fixture(scope="session")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """Another CA and its certificates: nothing of ``dev_certs`` trusts them."""
    files, _ = make_dev_certs(Path(tmp_path_factory.mktemp("other-certs")))
    return files
