"""The browse service: the devices' backend-for-frontend (no store of its own)."""
