"""The command service's use cases: handlers, the load-decide-append loop and publication."""
