"""What a paginator says when a vendor's paging signal cannot be read, and the page size it
asks for: the error names the signal (never its value) so a user knows what the vendor sent."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from cdp_sdk.http import (
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    body_field,
    header_value,
)

URL = "https://api.example.test/v1/sims"


def answer(body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, json=body, headers=headers, request=httpx.Request("GET", URL))


# -- offset and limit ---------------------------------------------------------------------


def test_an_offset_that_is_not_a_number_is_named() -> None:
    paginator = OffsetPaginator(page_size=2)
    with pytest.raises(ValueError, match=r"^the offset is not a whole number$"):
        paginator.next(PageRequest(URL, {"offset": "abc"}), answer([]), [], [1, 2])


def test_a_total_that_is_not_a_number_is_named() -> None:
    paginator = OffsetPaginator(total=body_field("total"))
    request = paginator.first(PageRequest(URL))
    with pytest.raises(ValueError, match=r"^the total count is not a whole number$"):
        paginator.next(request, answer({"total": "many"}), {"total": "many"}, [1])


def test_an_empty_page_before_the_announced_total_is_refused_with_the_reason() -> None:
    paginator = OffsetPaginator(total=header_value("X-Total-Count"))
    request = paginator.first(PageRequest(URL)).with_params(offset=10)
    message = (
        "an empty page before the end the total count announces (the offset cannot move on from it)"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        paginator.next(request, answer([], {"X-Total-Count": "25"}), [], [])


def test_the_total_counts_from_the_start_offset() -> None:
    paginator = OffsetPaginator(start=1, total=body_field("total"), page_size=2)
    request = paginator.first(PageRequest(URL))
    assert request.params == {"offset": 1, "limit": 2}
    body = {"total": 3}
    second = paginator.next(request, answer(body), body, [1, 2])
    assert second is not None
    assert second.params["offset"] == 3
    assert paginator.next(second, answer(body), body, [3]) is None


# -- page numbers -------------------------------------------------------------------------


def test_a_last_page_flag_in_a_header_decides() -> None:
    paginator = PageNumberPaginator(last_page=header_value("X-Last-Page"), page_size=2)
    request = paginator.first(PageRequest(URL))
    following = paginator.next(request, answer([1], {"X-Last-Page": "no"}), [1], [1])
    assert following is not None
    assert following.params["page"] == 2
    assert paginator.next(following, answer([], {"X-Last-Page": "yes"}), [], []) is None


def test_a_last_page_flag_that_is_not_a_boolean_is_named() -> None:
    paginator = PageNumberPaginator(last_page=body_field("lastPage"))
    request = paginator.first(PageRequest(URL))
    body = {"lastPage": "perhaps"}
    with pytest.raises(ValueError, match=r"^the last-page flag is not a boolean$"):
        paginator.next(request, answer(body), body, [1])


def test_a_total_pages_count_that_is_not_a_number_is_named() -> None:
    paginator = PageNumberPaginator(total_pages=header_value("X-Total-Pages"))
    request = paginator.first(PageRequest(URL))
    with pytest.raises(ValueError, match=r"^the total-pages count is not a whole number$"):
        paginator.next(request, answer([1], {"X-Total-Pages": "2.5"}), [1], [1])


def test_a_page_size_without_a_size_parameter_is_not_sent() -> None:
    paginator = PageNumberPaginator(size_param=None, page_size=50)
    assert paginator.first(PageRequest(URL)).params == {"page": 1}
    offsets = OffsetPaginator(limit_param=None, page_size=50)
    assert offsets.first(PageRequest(URL)).params == {"offset": 0}
