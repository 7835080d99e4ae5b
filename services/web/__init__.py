"""The live map in the browser: a page, a JSON mapping of the gRPC contract, and live updates."""
