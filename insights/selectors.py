"""Reads of the insights app."""
