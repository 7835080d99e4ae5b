"""Unit tests of the broadcaster."""
