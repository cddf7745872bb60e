"""sleeve: grow an album-cover genre dataset from public catalogues and retrain the classifier."""

__version__ = "0.2.0"
