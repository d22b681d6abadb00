"""Judging a model: verification and classification metrics, linear probes,
parameter counts, plots, and the test-set check of exported models."""
