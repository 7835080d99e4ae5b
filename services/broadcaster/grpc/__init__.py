"""The gRPC edge of the broadcaster: the RoverLiveService servicer and its proto mapping."""
