"""Formatting of rates, intervals and durations on the insights page."""

from django import template

register = template.Library()


@register.filter
def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@register.filter
def ci(interval) -> str:
    if not interval:
        return ""
    low, high = interval
    return f"{low * 100:.0f}–{high * 100:.0f}%"


@register.filter
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


@register.filter
def label(path: str) -> str:
    return path.replace("_", " ")
