"""The command service: rover commands over gRPC, stored in EventStoreDB, published."""
