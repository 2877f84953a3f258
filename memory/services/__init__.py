"""Writes of the memory app, by concern: observations, profiles, extraction, API tokens, transcript import."""

from .extract import extract_observations
from .observations import add_observations, fingerprint, merge_customer_memory, record_observations
from .profiles import reconcile_profile
from .tokens import NewToken, authenticate_api_token, create_api_token, hash_token
from .transcripts import ImportedTranscript, import_transcript

__all__ = [
    "ImportedTranscript",
    "NewToken",
    "add_observations",
    "authenticate_api_token",
    "create_api_token",
    "extract_observations",
    "fingerprint",
    "hash_token",
    "import_transcript",
    "merge_customer_memory",
    "reconcile_profile",
    "record_observations",
]
