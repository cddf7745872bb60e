"""Inference: the trained model file (run directory, heads as plain arrays), `Classifier` and
`predict`. Above the dataset stage (it reads covers and words as the build does), below training,
which writes what this floor reads."""
