"""Services of the rover system: command, query, broadcaster, and the development event store."""
