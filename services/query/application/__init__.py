"""Use cases of the read side: the projector, the queries, rebuild; ports are Protocols."""
