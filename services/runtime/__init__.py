"""The one server runtime every StreamMesh service runs on."""
