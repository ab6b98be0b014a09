"""Continuous batching of decode requests over one model (see `engine.py`)."""
