"""Builds the LLM for an admin-configured LLMProvider row (or the offline engine when none)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import LLM
from .offline import OfflineEngine

if TYPE_CHECKING:
    from conversations.models import LLMProvider


def provider_for(config: LLMProvider | None) -> LLM:
    """The LLM for `config`; the offline engine when it is None or of kind offline."""
    if config is None or config.kind == "offline":
        return OfflineEngine()
    from .openai_provider import OpenAIProvider

    return OpenAIProvider(
        name=config.name,
        base_url=config.base_url,
        model=config.model,
        api_key_env=config.api_key_env,
        timeout=config.timeout_seconds,
        max_retries=config.max_retries,
        temperature=config.temperature,
    )


def warm_up() -> None:
    """Load the OpenAI-compatible client ahead of the first turn that needs it (a server process's start)."""
    from . import openai_provider

    openai_provider.warm_up()
