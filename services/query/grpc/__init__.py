"""The gRPC edge of the query service: the servicer and its one error mapping."""
