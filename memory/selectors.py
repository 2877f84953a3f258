"""Reads of the memory app."""
