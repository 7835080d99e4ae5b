"""Integration tests of tracing and of the correlation metadata (real servers, one store)."""
