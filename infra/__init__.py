"""Shared plumbing that imports no app: events, groups, permissions, metrics, embeddings, entity patterns."""
