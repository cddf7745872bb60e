"""Fitting: the ladder's rungs (methods/), heads written as plain arrays, learned projections
and the fine-tuned side features."""
