"""Scoring the large models on the held-out test split: per-document losses and paired bootstrap intervals."""
