"""Numerical core."""
