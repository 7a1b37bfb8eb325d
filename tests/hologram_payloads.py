"""Hologram payloads shaped as documented, shared by the Hologram test modules.

Field names, nesting and value types follow Hologram's API Blueprint
(``hologram-io/rest-api-docs``, ``apiary.apib``: the Cellular Link, Device, Device Link,
Data Plan, Device Tag and Sim State History objects, the response envelope and the usage
examples) and, where marked, the newer reference pages on docs.hologram.io. The values
are made up.
"""

from __future__ import annotations

import copy
from typing import Any

BASE = "https://dashboard.hologram.io"
API_KEY = "hG7kq2ZtR9xWc4LmN8pV3bJ6"
ICCID = "8944500112233445567"  # 19 digits, the last one its Luhn check digit
ICCID_BODY = ICCID[:-1]  # the same SIM without its check digit
LINK_ID = 231720
DEVICE_ID = 56668
ORG_ID = 4477

# Cellular Link (object): GET /api/1/links/cellular
LINK: dict[str, Any] = {
    "id": LINK_ID,
    "deviceid": DEVICE_ID,
    "devicename": "Pump 12",
    "orgid": ORG_ID,
    "tunnelable": 0,
    "partnerid": 1,
    "sim": ICCID,
    "sim_attribute": "STANDARD",
    "msisdn": "882350012345678",
    "imsi": 234500012345678,
    "dataplansubscriptionid": 88231,
    "zone": 1,
    "carrier": 2,
    "state": "LIVE",
    "whenclaimed": "2024-02-03 04:05:06",
    "whenexpires": "2024-06-03 04:05:06",
    "whencreated": "2023-12-01 10:20:30",
    "overagelimit": 20000000,
    "datathreshold": 0,
    "smslimit": 100,
    "mfa_available": 1,
    "pin": "4321",
    "puk": "87654321",
    "priv_ip_address": "10.176.4.21",
    "euicc_type": "UICC",
    "eid": None,
    "euicc_state": "ENABLED",
    "profile_state": "ENABLED",
    "apn": "hologram",
}

# Device (object) with its Device Link: GET /api/1/devices
DEVICE: dict[str, Any] = {
    "id": DEVICE_ID,
    "orgid": ORG_ID,
    "name": "Pump 12",
    "type": "Unknown",
    "whencreated": "2024-02-03 04:05:06",
    "phonenumber": "",
    "phonenumber_cost": "0.00",
    "tunnelable": 0,
    "imei": "356938035643809",
    "imei_sv": "3569380356438001",
    "hidden": 0,
    "tags": [{"id": 890, "name": "pumps"}, {"id": 891, "name": "north"}],
    "links": {
        "cellular": [
            {
                "id": LINK_ID,
                "sim": ICCID,
                "imsi": 234500012345678,
                "msisdn": "882350012345678",
                "carrierid": 2,
                "state": "LIVE",
                "whenclaimed": "2024-02-03 04:05:06",
                "whenexpires": "2024-06-03 04:05:06",
                "overagelimit": 20000000,
                "datathreshold": 0,
                "smslimit": 100,
                "pin": "4321",
                "puk": "87654321",
                "euicc_type": "UICC",
                "eid": None,
                "euicc_state": "ENABLED",
                "profile_state": "ENABLED",
                "apn": "hologram",
                "plan": {
                    "id": 127,
                    "zone": 1,
                    "name": "Flexible 10MB",
                    "data": 10000000,
                    "cost": "1.50",
                    "sms": "0.19",
                    "overage": "0.40",
                    "account_tier": "BASE",
                },
                "last_network_used": "T-Mobile USA, Inc",
                "last_connect_time": "2024-05-20 08:00:00",
                "cur_billing_data_used": 2692964,
                "last_billing_data_used": 5421465,
            }
        ]
    },
    "lastsession": {
        "linkid": LINK_ID,
        "bytes": 0,
        "session_begin": "2024-05-20 07:41:38",
        "session_end": "0000-00-00 00:00:00",
        "imei": "3569380356438001",
        "cellid": 4864,
        "tadig": "USAW6",
        "lac": 31602,
        "network_name": "T-Mobile USA, Inc",
        "radio_access_technology": "LTE",
        "active": True,
    },
    "model": "BG96",
    "manufacturer": "Quectel",
}

# Data Plan (object): GET /api/1/plans
PLAN: dict[str, Any] = {
    "id": 127,
    "name": "Flexible 10MB",
    "partnerid": 1,
    "description": "10 MB a month, then pay as you go",
    "data": 10000000,
    "recurring": 1,
    "enabled": 1,
    "billingperiod": 1,
    "groupid": 0,
    "developerplan": 0,
    "tiers": {
        "1000": {
            "devicecount": 1000,
            "zones": {
                "1": {"amount": "1.10", "sms": "0.15", "overage": "0.30", "carriers": {}},
            },
        },
        "BASE": {
            "devicecount": 0,
            "zones": {
                "1": {
                    "amount": "1.50",
                    "sms": "0.19",
                    "overage": "0.40",
                    "carriers": {"2": {"apn": "hologram"}},
                },
                "global": {"amount": "4.75", "sms": "0.19", "overage": "1.00", "carriers": {}},
            },
        },
    },
}

# Sim State History (object): GET /api/1/links/cellular/{linkid}/history
HISTORY: list[dict[str, Any]] = [
    {
        "id": 9001,
        "timestamp": "2024-02-03 04:05:06",
        "linkid": LINK_ID,
        "oldstate": "INACTIVE",
        "newstate": "LIVE-PENDING",
        "reason": "USER",
    },
    {
        "id": 9002,
        "timestamp": "2024-02-03 04:06:10",
        "linkid": LINK_ID,
        "oldstate": "LIVE-PENDING",
        "newstate": "LIVE",
        "reason": "USER",
    },
]

# GET /api/1/usage/data/daily (newest first)
DAILY: list[dict[str, Any]] = [
    {"linkid": LINK_ID, "record_id": 104691062, "date": "2024-05-02", "bytes": 5242880,
     "session_count": 14},
    {"linkid": LINK_ID, "record_id": 104340784, "date": "2024-05-01", "bytes": 1048576,
     "session_count": 6},
]  # fmt: skip

# GET /api/1/usage/data/monthly (record_id and session_count are strings)
MONTHLY: list[dict[str, Any]] = [
    {"linkid": LINK_ID, "record_id": "2317202024", "month": 4, "year": 2024,
     "session_count": "43", "bytes": 21474836},
]  # fmt: skip

# GET /api/1/usage/data: one data session each
SESSIONS: list[dict[str, Any]] = [
    {
        "linkid": LINK_ID,
        "record_id": 2,
        "session_begin": "2024-05-02 16:04:20",
        "timestamp": "2024-05-02 16:34:22",
        "bytes": 500000,
        "imei": "356938035643809",
        "imeisv": "3569380356438001",
        "cellid": 1234,
        "lac": 543210,
        "radio_access_technology": "LTE",
        "network_name": "Hologram Global",
    }
]

# GET /api/1/usage/sms: device-originated SMS (the Blueprint's shape)
SMS: list[dict[str, Any]] = [
    {"linkid": LINK_ID, "record_id": 9889, "timestamp": "2024-05-02 18:47:22",
     "direction": "DO", "other_number": "5555551234"},
    {"linkid": LINK_ID, "record_id": 9888, "timestamp": "2024-05-02 09:12:01",
     "direction": "DO", "other_number": "5555551234"},
    {"linkid": LINK_ID, "record_id": 9887, "timestamp": "2024-05-01 23:59:59",
     "direction": "DO", "other_number": "5555551234"},
]  # fmt: skip

# GET /api/1/usage/sms: the newer reference's outbound SMS shape (no direction, a cost)
SMS_NEWER: list[dict[str, Any]] = [
    {"id": 123457, "deviceid": DEVICE_ID, "orgid": ORG_ID, "linkid": LINK_ID,
     "timestamp": "2024-05-02 14:30:00", "body": "temperature 21C",
     "destination": "+15551234567", "status": "delivered", "cost": "0.05"},
    {"id": 123456, "deviceid": DEVICE_ID, "orgid": ORG_ID, "linkid": LINK_ID,
     "timestamp": "2024-05-02 10:00:00", "body": "boot", "destination": "+15551234567",
     "status": "delivered", "cost": "0.05"},
]  # fmt: skip


def page(
    path: str, data: list[Any], *, limit: int, next_after: Any = None, **extra: Any
) -> dict[str, Any]:
    """A listing envelope: ``continues`` and ``links.next`` only when more records follow."""
    body: dict[str, Any] = {"success": True, "limit": limit, "size": len(data)}
    links: dict[str, Any] = {"path": path, "base": "dashboard.hologram.io"}
    if next_after is not None:
        body["continues"] = True
        links["next"] = f"{path}?limit={limit}&startafter={next_after}"
    return {**body, "links": links, "data": data, **extra}


def answer(data: Any) -> dict[str, Any]:
    """A successful single answer."""
    return {"success": True, "data": data}


def error(message: str) -> dict[str, Any]:
    """Hologram's error body."""
    return {"success": False, "error": message}


def with_(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``record`` with ``changes``."""
    return {**copy.deepcopy(record), **changes}
