"""Benchmarks and sample media helpers (not part of the installed package)."""
