"""The gRPC adapter of the command service: request parsing, result mapping, error statuses."""
