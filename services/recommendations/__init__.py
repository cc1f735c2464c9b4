"""The recommendations service: per-profile lists learned from viewing history."""
