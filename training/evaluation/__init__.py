"""Evaluation: metrics, the headline protocol, grouped cross-validation, model selection,
learning curves, label issues and the artist split."""
