"""Faust tables and the pure aggregate logic they hold (no I/O in the math)."""
