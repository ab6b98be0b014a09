"""Benchmarks: measured against the plain Hugging Face baseline in the same run."""
