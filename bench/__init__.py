"""Benchmarks (plain scripts, not tests): ``bash bench/run.sh`` or ``make bench``."""
