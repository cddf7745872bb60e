"""Tests of sleeve.collector."""
