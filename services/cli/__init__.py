"""``rover``: a command-line client for people (create grids, land and drive rovers, watch)."""
