"""What the sync store raises and warns besides the core errors."""

from __future__ import annotations

from cdp_sdk.errors import CdpError

__all__ = ["InsecureStoreWarning", "StoreError"]


class StoreError(CdpError):
    """The database refused a write or a read of the store (the reason is redacted, and
    never holds the statement's values)."""


class InsecureStoreWarning(UserWarning):
    """A store file was readable or writable by other users: its mode was tightened to
    0600, or could not be (then ``chmod 600`` it)."""
