"""gRPC interceptors of the mesh: one concern per module, composed in one place."""
