"""Logging to stderr with journald priority prefixes (<3> error ... <7> debug), as sd-daemon(3) reads them."""
from __future__ import annotations

import logging
import os
import sys

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """`<6>edge_app.daemon: message`; under journald the prefix becomes the priority, not text."""

    def __init__(self, prefix: bool) -> None:
        super().__init__("%(name)s: %(message)s" if prefix else "%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.prefix:
            return text
        pri = _PRIORITY.get(record.levelno, 6)
        # one journal entry per line: prefix every line of a traceback
        return "\n".join(f"<{pri}>{line}" for line in text.splitlines())


def setup(level: str = "info", *, journald: bool | None = None) -> None:
    """Configure the root logger once; journald prefixes when stderr goes to the journal."""
    if journald is None:
        journald = bool(os.environ.get("JOURNAL_STREAM")) or bool(os.environ.get("INVOCATION_ID"))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter(prefix=journald))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log would put request paths (which name encounters) in the journal at INFO.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING if level != "debug" else logging.DEBUG)
