"""The broadcaster's application layer: ports, the fan-out hub, the grid cache, WatchGrid."""
