"""Adapters of the broadcaster's ports: EventStoreDB (esdbclient) and in-memory fakes."""
