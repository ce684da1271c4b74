"""The regression stage: candidate models, nested cross-validation, significance, a safe model file."""
