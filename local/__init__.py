"""The local cloud: `make up` (local/up.py) starts it."""
