"""Unit tests of the embedded event store."""
