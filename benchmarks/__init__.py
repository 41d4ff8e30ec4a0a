"""Reproducible measurements of the feeds and the dashboard; see docs/benchmarks.md."""
