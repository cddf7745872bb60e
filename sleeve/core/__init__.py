"""The ground floor: settings, errors, the catalog, image intake, the vision models and small
utilities. It imports nothing above itself (tests/test_layering.py)."""

__version__ = "0.3.0"
