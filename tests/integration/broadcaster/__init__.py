"""Integration tests of the broadcaster (real gRPC, the embedded event store)."""
