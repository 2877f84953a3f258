"""LLM providers behind one interface; the runtime imports only `base` and `provider_for`."""

from .base import LLM, LLMConfigurationError, LLMError
from .registry import provider_for, warm_up

__all__ = ["LLM", "LLMConfigurationError", "LLMError", "provider_for", "warm_up"]
