"""Exception families of the appliance; each carries one line a user can act on."""
from __future__ import annotations


class EdgeAppError(Exception):
    """Base of every error edge_app raises on purpose; str() is the one line shown to the user."""


class ConfigError(EdgeAppError):
    """The config file is missing, unreadable, or names a bad key or value."""


class StoreError(EdgeAppError):
    """The database cannot be opened, migrated or written."""


class NotFoundError(StoreError):
    """A record that does not exist."""


class ApiClientError(EdgeAppError):
    """The daemon could not be reached or refused a request."""


class Refused(EdgeAppError):
    """A use case refused a request; each subclass is one kind of refusal (the API gives each its status)."""


class InvalidInput(Refused):
    """A value is wrong: the message names the field."""


class Conflict(Refused):
    """The request contradicts the state of the box (a closed record, a taken name, nothing configured)."""


class Denied(Refused):
    """The caller may not do this, or gave a wrong secret (a pairing code)."""


class Locked(Refused):
    """Not now: the resource is closed (forwarding suspended, say)."""


class TooManyTries(Refused):
    """Too many failed tries in a short time (wrong pairing codes): try again after retry_after_s."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
