"""Writes of the insights app."""
