"""The review loop: label-issue suspects from a run -> a person's decision -> the next build."""
