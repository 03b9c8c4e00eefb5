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
