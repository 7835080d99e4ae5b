"""Adapters of the query service: Redis read model, EventStoreDB feed, in-memory fakes."""
