"""Benchmarks: one command, figures as ratios to the framework floor measured in the same run."""
