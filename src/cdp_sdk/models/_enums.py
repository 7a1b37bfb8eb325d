"""Enumerations shared by the normalized models.

Every enum is a :class:`enum.StrEnum`, so a member compares equal to its value
(``SimStatus.ACTIVE == "active"``) and serializes to JSON as that plain string.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AuditKind",
    "Bearer",
    "Capability",
    "Direction",
    "Granularity",
    "SimStatus",
    "Unit",
]


class Capability(StrEnum):
    """A feature a connector supports; a method needing a missing one raises an error."""

    SUBSCRIPTIONS = "subscriptions"
    INCREMENTAL = "incremental"  # `modified_since` is honoured server-side
    CHANGE_STATUS = "change_status"
    TARIFFS = "tariffs"
    USAGE = "usage"
    INVOICES = "invoices"
    AUDIT_EVENTS = "audit_events"
    TAGS = "tags"  # tags are read and returned on subscriptions
    UPDATE_TAGS = "update_tags"


class SimStatus(StrEnum):
    """The normalized lifecycle state of a SIM subscription."""

    INVENTORY = "inventory"  # not usable yet
    TEST = "test"  # free test mode
    READY = "ready"  # activates on demand or on first use
    ACTIVE = "active"  # in service and billed
    SUSPENDED = "suspended"  # blocked for now, expected to resume
    DEACTIVATED = "deactivated"  # service off, not billed
    RETIRED = "retired"  # end of life: retired, purged, terminated, deleted, replaced
    UNKNOWN = "unknown"  # the vendor state is not mapped; `status_raw` keeps it


class Bearer(StrEnum):
    """The kind of traffic a usage record counts."""

    DATA = "data"
    SMS = "sms"
    VOICE = "voice"
    CSD = "csd"  # circuit-switched data, counted in seconds


class Direction(StrEnum):
    """The direction of traffic, seen from the device."""

    MO = "mo"  # mobile originated; uplink for data
    MT = "mt"  # mobile terminated; downlink for data


class Unit(StrEnum):
    """The base unit a usage quantity is counted in."""

    BYTES = "bytes"
    MESSAGES = "messages"
    SECONDS = "seconds"


class Granularity(StrEnum):
    """The length of the period a usage record covers."""

    SESSION = "session"  # one data session or call
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"  # calendar month
    CYCLE = "cycle"  # the platform's billing cycle, which need not match the calendar


class AuditKind(StrEnum):
    """What an audit event records."""

    STATUS_CHANGE = "status_change"
    TARIFF_CHANGE = "tariff_change"
    FIELD_CHANGE = "field_change"  # any other field; `field` names it
    SESSION = "session"  # a network session or connectivity event
    OTHER = "other"
