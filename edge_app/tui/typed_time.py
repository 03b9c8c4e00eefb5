"""A time of day the crew types ("14:32") as the moment it means: today, or yesterday just after midnight.

One rule for every form (drug given at, intervention done at, a time stamp stated late) so the crew
learns it once; the prompts say it: a time later than now is yesterday's. A time that would then be more
than YESTERDAY_AT_MOST ago is refused in words, because it is a typo or a time in the future (14:32 typed
at 14:05), not a late entry: stored, it would put the record on the wrong day.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

# "14:32", "9:05" or "1432"; not "10" or "130", which could be read more than one way.
HHMM = re.compile(r"(?:([01]?\d|2[0-3]):([0-5]\d))|(?:([01]\d|2[0-3])([0-5]\d))")
CLOCK_SLACK = timedelta(minutes=5)  # as the API: another device's clock may run a little ahead of this one
YESTERDAY_AT_MOST = timedelta(hours=12)
RULE = "HH:MM, 24 h; later than now means yesterday"


def given_at(text: str, now: datetime) -> str | None:
    """ "10:42" as ISO 8601 with now's offset; None for blank (the API takes that as now). ValueError with
    a sentence for the crew when it is not a time of day or lands on the wrong day."""
    text = text.strip()
    if not text:
        return None
    m = HHMM.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a time of day: type HH:MM, from 00:00 to 23:59")
    hour, minute = (int(m[1]), int(m[2])) if m[1] is not None else (int(m[3]), int(m[4]))
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at > now + CLOCK_SLACK:
        at -= timedelta(days=1)
        if now - at > YESTERDAY_AT_MOST:
            raise ValueError(f"{hour:02d}:{minute:02d} is later than now ({now:%H:%M}); that would be "
                             f"yesterday, {(now - at).seconds // 3600} h ago: check the time")
    return at.isoformat()
