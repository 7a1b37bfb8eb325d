"""What the sync store raises and warns besides the core errors."""

from __future__ import annotations

from cdp_sdk.errors import CdpError, ConfigurationError

__all__ = ["InsecureStoreWarning", "StoreError", "StorePermissionError"]


class StoreError(CdpError):
    """The database refused a write or a read of the store (the reason is redacted, and
    never holds the statement's values)."""


class StorePermissionError(ConfigurationError):
    """The store cannot be written: its file or directory is read-only for this user (or
    on a read-only file system), the database refuses this user, or the store was opened
    with ``read_only=True``. Reading a store that exists still works (it opens read-only)."""


class InsecureStoreWarning(UserWarning):
    """A store file was readable or writable by other users: its mode was tightened to
    0600, or could not be (then ``chmod 600`` it)."""
