"""Writes of the memory app."""
