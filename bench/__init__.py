"""Benchmarks: scripts that print figures (not tests). Run with `.venv/bin/python -m bench.<name>`."""
