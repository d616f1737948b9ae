"""Tests on a real Docker engine (a private dockerd started for them; see engine.py)."""
