"""Reporting: a finished run's files (metrics, figures, report, per-cover predictions) and the
report's ablation section."""
