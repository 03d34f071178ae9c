"""A browser's User-Agent header, shortened to what a person recognizes: "Firefox 128 on
Linux", "Safari on iPhone", "curl 8.5"."""

from __future__ import annotations

import re

# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari" too.
_BROWSERS = (
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"OPR/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/")),
    ("curl", re.compile(r"^curl/([\d.]+)")),
    ("Python", re.compile(r"^python-(?:requests|httpx)/([\d.]+)")),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
SHORT_MAX = 60


def short_agent(user_agent: str) -> str:
    """A readable name for the browser behind `user_agent` (the header cut short if unknown)."""
    text = user_agent.strip()
    if not text:
        return "unknown"
    browser = next(
        (f"{name} {m.group(1)}" for name, pattern in _BROWSERS if (m := pattern.search(text))),
        None,
    )
    system = next((label for marker, label in _SYSTEMS if marker in text), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser:
        return browser
    return text if len(text) <= SHORT_MAX else text[: SHORT_MAX - 1] + "…"
