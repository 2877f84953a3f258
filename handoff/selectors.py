"""Reads of the handoff app."""
