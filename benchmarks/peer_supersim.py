"""List every Super SIM with the official Twilio Python library, ``twilio`` (a peer).

Run by the benchmarks with the interpreter of a virtualenv of its own, never with
cdp-sdk's: ``peer_supersim.py BASE_URL ACCOUNT_SID AUTH_TOKEN``. It prints one JSON line:
the seconds from creating the client to the last SIM, each SIM's
``[iccid, status, sid, unique_name, fleet_sid]``, and the error the library raised, if any.

The library has no base-URL setting (its hosts are fixed, ``https://supersim.twilio.com``
for Super SIM); it takes an ``http_client`` instead, its documented hook for custom
transports. The one given here is the library's own ``TwilioHttpClient`` sending each
request to ``BASE_URL`` (scheme and host replaced, path and query kept): the library's
paging, models and auth run unchanged.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

PAGE_SIZE = 1000
"""The documented maximum of ``PageSize``, which cdp-sdk asks for as well."""


def main() -> None:
    base_url, account_sid, auth_token = sys.argv[1:4]
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    origin = urlsplit(base_url)

    class Loopback(TwilioHttpClient):  # type: ignore[misc]
        """The library's HTTP client, aimed at the emulator."""

        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            moved = urlsplit(url)._replace(scheme=origin.scheme, netloc=origin.netloc)
            return super().request(method, moved.geturl(), *args, **kwargs)

    sims = []
    error = None
    started = time.perf_counter()
    try:
        client = Client(account_sid, auth_token, http_client=Loopback())
        for sim in client.supersim.v1.sims.stream(page_size=PAGE_SIZE):
            sims.append([sim.iccid, str(sim.status), sim.sid, sim.unique_name, sim.fleet_sid])
    except Exception as exc:  # the peer's own failure: reported, not raised
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "sims": sims, "error": error}), flush=True)


if __name__ == "__main__":
    main()
