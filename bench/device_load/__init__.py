"""A device's load through the edge (``python -m bench.device_load``); see __main__.py."""
