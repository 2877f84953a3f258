"""Actions: declared HTTP or Python operations the AI may call as tools, with verification, confirmation and audit.

Models live in `models.py` here and belong to the `conversations` app; `services.py` writes,
`selectors.py` reads, `executor.py` runs a tool call end to end for the runtime.
"""
