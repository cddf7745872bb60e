"""Tests of sleeve.fakes."""
