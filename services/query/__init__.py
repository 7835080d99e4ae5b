"""The query service: projects integration events into Redis and answers RoverQueryService."""
