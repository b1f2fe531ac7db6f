"""Benchmarks: speed, memory, size and accuracy drift of artifacts on backends, with CI budgets."""
