"""Benchmarks: each module prints a table; `python -m bench NAME...` runs them."""
