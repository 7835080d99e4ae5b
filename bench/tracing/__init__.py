"""Parts of the tracing benchmark: services run with tracing off or on, in child processes."""
