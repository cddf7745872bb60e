"""Tests of sleeve.inference."""
