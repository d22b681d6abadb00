"""Corpus synthesis and per-dataset preparation."""
