"""List every SIM with the official emnify Python SDK, ``emnify-sdk`` (a peer to compare).

Run by the benchmarks with the interpreter of a virtualenv of its own (``emnify-sdk``
pins pydantic v1), never with cdp-sdk's: ``peer_emnify.py BASE_URL APPLICATION_TOKEN``.
It prints one JSON line: the seconds from creating the client to the last SIM, each
SIM's ``[iccid, imsi, msisdn, status id]``, and the error the SDK raised, if any.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    base_url, token = sys.argv[1:3]
    # The SDK reads its endpoint from the environment when it is imported.
    os.environ["EMNIFY_SDK_API_ENDPOINT_URL"] = base_url.rstrip("/") + "/api"
    from emnify import EMnify

    sims = []
    error = None
    started = time.perf_counter()
    try:
        client = EMnify(token)
        for sim in client.sim.get_sim_list():
            status = sim.status.id if sim.status is not None else None
            sims.append([sim.iccid, sim.imsi, sim.msisdn, status])
    except Exception as exc:  # the peer's own failure: reported, not raised
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "sims": sims, "error": error}), flush=True)


if __name__ == "__main__":
    main()
