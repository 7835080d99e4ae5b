"""The broadcaster: live grid updates over a server-streaming gRPC call (RoverLiveService)."""
