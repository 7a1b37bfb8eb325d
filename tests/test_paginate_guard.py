"""The loop guard of a listing, as a user meets it: a page or record served twice stops the
listing with a message naming the endpoint; records without a key, or keys of other types,
are not taken for duplicates; pages of any content can be recognised."""

from __future__ import annotations

import datetime as dt
import operator
from typing import Any

import httpx
import pytest

from cdp_sdk.errors import UnexpectedResponseError
from cdp_sdk.http import (
    HttpClient,
    ListingGuard,
    PageNumberPaginator,
    PageRequest,
    _digests,
    body_field,
)
from test_http_digests import Files

BASE = "https://api.example.test"
URL = f"{BASE}/v1/sims"
ENDING = "; stopping rather than return a listing with duplicates or gaps"


def guard(key: Any = None) -> ListingGuard:
    return ListingGuard(connector="toy", endpoint="GET /v1/sims", key=key)


def test_a_request_asked_twice_is_named_as_a_repeated_page() -> None:
    listing = guard()
    listing.check_request(PageRequest(URL, {"page": 1}))
    listing.check_request(PageRequest(URL, {"page": 2}))
    with pytest.raises(UnexpectedResponseError) as caught:
        listing.check_request(PageRequest(URL, {"page": 1}))
    assert caught.value.message == "GET /v1/sims: the platform repeated a page" + ENDING
    assert caught.value.connector == "toy"
    assert listing.requests == 2


def test_a_page_served_again_with_its_keys_reordered_is_a_repeat() -> None:
    listing = guard()
    listing.check_page([{"iccid": "1", "status": "active"}])
    with pytest.raises(UnexpectedResponseError) as caught:
        listing.check_page([{"status": "active", "iccid": "1"}])
    assert caught.value.message == "GET /v1/sims: the platform repeated a page" + ENDING


def test_a_page_of_the_same_records_with_new_values_is_a_repeated_page() -> None:
    listing = guard(operator.itemgetter("iccid"))
    listing.check_page([{"iccid": "1", "used": 5}, {"iccid": "2", "used": 7}])
    with pytest.raises(UnexpectedResponseError) as caught:
        listing.check_page([{"iccid": "1", "used": 6}, {"iccid": "2", "used": 8}])
    assert caught.value.message == "GET /v1/sims: the platform repeated a page" + ENDING


def test_a_record_listed_twice_is_named() -> None:
    listing = guard(operator.itemgetter("iccid"))
    listing.check_page([{"iccid": "1"}, {"iccid": "2"}])
    with pytest.raises(UnexpectedResponseError) as caught:
        listing.check_page([{"iccid": "3"}, {"iccid": "2"}])
    assert caught.value.message == (
        "GET /v1/sims: the platform listed the same record twice" + ENDING
    )


def test_a_record_listed_again_many_pages_later_is_caught() -> None:
    listing = guard(operator.itemgetter("iccid"))
    for page in range(300):  # 30,000 records: the digests' buckets split many times
        listing.check_page([{"iccid": f"8988{page:04}{n:03}"} for n in range(100)])
    with pytest.raises(UnexpectedResponseError, match="the same record twice"):
        listing.check_page([{"iccid": "89889999000"}, {"iccid": "89880000042"}])


def test_requests_and_pages_far_apart_are_still_told_apart_and_caught() -> None:
    listing = guard()
    for page in range(3000):
        listing.check_request(PageRequest(URL, {"page": page}))
        listing.check_page([{"n": page}])
    assert listing.requests == 3000
    with pytest.raises(UnexpectedResponseError, match="repeated a page"):
        listing.check_request(PageRequest(URL, {"page": 7}))
    with pytest.raises(UnexpectedResponseError, match="repeated a page"):
        listing.check_page([{"n": 2}])


def test_a_duplicate_after_a_record_without_a_key_is_still_caught() -> None:
    listing = guard(operator.itemgetter("iccid"))
    with pytest.raises(UnexpectedResponseError, match="the same record twice"):
        listing.check_page([{"iccid": None}, {"iccid": "7"}, {"iccid": "7"}])


def test_records_without_a_key_are_not_duplicates_of_each_other() -> None:
    listing = guard(operator.itemgetter("iccid"))
    listing.check_page([{"iccid": None, "n": 1}, {"iccid": None, "n": 2}])
    listing.check_page([{"iccid": None, "n": 3}, {"other": 4}])


def test_keys_of_different_types_are_different_records() -> None:
    listing = guard(operator.itemgetter("id"))
    listing.check_page([{"id": 1}, {"id": 1.0}, {"id": True}])


def test_pages_of_objects_json_cannot_encode_are_recognised() -> None:
    listing = guard()
    listing.check_page([dt.date(2024, 6, 1)])
    listing.check_page([dt.date(2024, 6, 2)])
    with pytest.raises(UnexpectedResponseError, match="repeated a page"):
        listing.check_page([dt.date(2024, 6, 1)])


def test_a_page_nested_too_deeply_is_refused_by_name() -> None:
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(UnexpectedResponseError) as caught:
        guard().check_page([nested])
    assert caught.value.message == ("GET /v1/sims: a page is nested too deeply to read" + ENDING)


def test_a_record_listed_again_after_its_key_went_to_disk_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_digests, "SPILL", 256)
    listing = guard(operator.itemgetter("iccid"))
    for page in range(100):  # 10,000 keys: 39 runs written, merged 8 at a time
        listing.check_page([{"iccid": f"8988{page:04}{n:03}"} for n in range(100)])
    assert listing._keys._runs
    with pytest.raises(UnexpectedResponseError, match="the same record twice"):
        listing.check_page([{"iccid": "89889999000"}, {"iccid": "89880000042"}])
    listing.close()
    assert not listing._keys._runs


@pytest.mark.parametrize("fails", [False, True], ids=["to its end", "stopped by a duplicate"])
async def test_a_listing_closes_the_files_of_its_keys(
    monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    monkeypatch.setattr(_digests, "SPILL", 16)
    files = Files(monkeypatch)

    def respond(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        sims = [{"iccid": f"8988{n:08}"} for n in range(100 * page, 100 * page + 50)]
        if fails and page == 9:
            sims[-1] = {"iccid": "898800000010"}  # page 0's, long on disk
        return httpx.Response(200, json={"sims": sims, "last": page == 9})

    client = HttpClient(connector="toy", base_url=BASE, transport=httpx.MockTransport(respond))
    paginator = PageNumberPaginator(size_param=None, first_page=0, last_page=body_field("last"))
    listed: list[Any] = []
    failure: UnexpectedResponseError | None = None
    try:
        async for page in client.paginate(
            paginator, "/v1/sims", items="sims", key=operator.itemgetter("iccid")
        ):
            listed += page.items
    except UnexpectedResponseError as error:
        failure = error
    finally:
        await client.aclose()
    assert (failure is not None) is fails
    assert failure is None or "the same record twice" in failure.message
    assert len(listed) == (450 if fails else 500)
    assert files.opened
    assert files.open == 0
