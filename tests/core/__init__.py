"""Tests of sleeve.core."""
