"""Benchmarks: each module prints figures; none of them is a timed test."""
