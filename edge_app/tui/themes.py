"""Day and night themes: day is high-contrast for sunlight, night is dark and dim so it does not dazzle."""
from __future__ import annotations

from textual.theme import Theme

DAY = Theme(
    name="edge-day",
    primary="#0b5394",
    secondary="#38761d",
    warning="#b45f06",
    error="#b00020",
    success="#1e7b34",
    accent="#6a1b9a",
    foreground="#111111",
    background="#f4f4f0",
    surface="#ffffff",
    panel="#dcdcd6",
    dark=False,
)

# Night: no white, no large bright areas; text a dim warm grey, alarms still distinct but not glaring.
NIGHT = Theme(
    name="edge-night",
    primary="#4a6a8a",
    secondary="#4f6f4f",
    warning="#b8860b",
    error="#c0392b",
    success="#3d7a4f",
    accent="#7a5c8a",
    foreground="#a8a29a",
    background="#080808",
    surface="#101010",
    panel="#1a1a1a",
    dark=True,
    luminosity_spread=0.08,
    text_alpha=0.85,
)
