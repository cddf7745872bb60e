"""Tests of sleeve.ui."""
