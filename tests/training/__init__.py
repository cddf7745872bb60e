"""Tests of sleeve.training."""
