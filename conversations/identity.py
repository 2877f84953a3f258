"""Normalising channel addresses so the same email or phone is always the same identity."""

import re

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidAddress(ValueError):
    pass


def normalize_email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value) or len(value) > 320:
        raise InvalidAddress(f"{value!r} is not an email address")
    return value


def normalize_phone(value: str, default_country_code: str = "1") -> str:
    """E.164: `+` and digits. Ten-digit numbers get the default (North American) country code."""
    raw = value.strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("00"):
        digits = digits[2:]
    elif not raw.startswith("+") and len(digits) == 10:
        digits = default_country_code + digits
    if not 8 <= len(digits) <= 15:
        raise InvalidAddress(f"{value!r} is not a phone number (use E.164, e.g. +14155550123)")
    return "+" + digits


def normalize_address(channel: str, address: str) -> str:
    if channel == "email":
        return normalize_email(address)
    if channel == "phone":
        return normalize_phone(address)
    address = address.strip()
    if not address or len(address) > 320:
        raise InvalidAddress("identity address must be 1 to 320 characters")
    return address
