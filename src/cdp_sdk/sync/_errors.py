"""The errors of the sync store that are not about the platforms."""

from __future__ import annotations

from cdp_sdk.errors import ConfigurationError

__all__ = ["StorePermissionError"]


class StorePermissionError(ConfigurationError):
    """The store cannot be written: its file or directory is read-only for this user (or
    on a read-only file system), the database refuses this user, or the store was opened
    with ``read_only=True``. Reading a store that exists still works (it opens read-only)."""
