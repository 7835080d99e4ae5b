"""Every event store connection string in the README and docs/ names options the clients
know: esdbclient parses each one's query string (it refuses an unknown option; KurrentDB's
Node.js client takes the same names, case-insensitively), and each TLS one names the CA."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from esdbclient.connection_spec import ConnectionOptions

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
URI = re.compile(r"""\b(?:esdb|kurrentdb)(?:\+discover)?://[^\s`"')]+""")


def connection_strings() -> list[str]:
    return sorted({uri for doc in DOCS for uri in URI.findall(doc.read_text(encoding="utf-8"))})


@pytest.mark.parametrize("uri", [u for u in connection_strings() if "?" in u])
def test_the_options_are_ones_the_clients_know(uri: str) -> None:
    options = ConnectionOptions(urlsplit(uri).query)  # ValueError naming an unknown one
    if options.Tls and "@localhost" in uri:  # a secure example to paste: it trusts our CA
        assert options.TlsCaFile == ".certs/ca.pem", uri


def test_the_secure_forms_are_documented_for_python_and_node() -> None:
    secure = [uri for uri in connection_strings() if "@localhost" in uri]
    assert {urlsplit(uri).scheme for uri in secure} >= {"esdb", "kurrentdb"}


def test_the_checker_refuses_a_misspelt_option() -> None:
    with pytest.raises(ValueError, match="Unknown field"):
        ConnectionOptions(urlsplit("esdb://localhost:2113?tls=true&caFile=x").query)
