"""Tests of sleeve.dataset."""
