"""Adapters of the command service's ports: EventStoreDB (esdbclient), in-memory fakes, system."""
