"""What several services share: settings base, logging, gRPC server plumbing, rich errors."""
