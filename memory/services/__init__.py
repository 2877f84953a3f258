"""Writes of the memory app, by concern: observations, profiles, extraction, transcript import."""

from .extract import extract_observations
from .observations import add_observations, fingerprint, merge_customer_memory, record_observations
from .profiles import reconcile_profile
from .transcripts import ImportedTranscript, import_transcript

__all__ = [
    "ImportedTranscript",
    "add_observations",
    "extract_observations",
    "fingerprint",
    "import_transcript",
    "merge_customer_memory",
    "reconcile_profile",
    "record_observations",
]
