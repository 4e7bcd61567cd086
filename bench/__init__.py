"""Benchmarks: `make bench` runs every `bench/bench_*.py` in a fresh interpreter.

Each benchmark measures ours beside a baseline or peer library in the same run and ends with one
line `bench NAME: FIGURE (goal GOAL) met|missed`.
"""
