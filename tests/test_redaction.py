"""Tests of the redaction of secrets and subscriber identifiers (``cdp_sdk._redact``).

The end-to-end tests plant a canary secret and a canary ICCID in every place a platform
could echo them, drive ``HttpClient`` through success and failure paths, and check that
neither canary reaches a captured log line, an exception's ``str()``/``repr()`` or its
formatted traceback. Secrets registered here stay registered for the whole process, so
every other secret in this module is unique to its test.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr

import cdp_sdk.http
from cdp_sdk._redact import (
    RedactingFilter,
    redact_identifier,
    redact_text,
    redact_url,
    register_secret,
)
from cdp_sdk.errors import (
    AuthenticationError,
    CdpError,
    NotFoundError,
    TransientError,
)
from cdp_sdk.http import (
    BasicAuth,
    CallRecord,
    HeaderAuth,
    HttpClient,
    JsonLoginAuth,
    LoginTokenAuth,
    OAuth2ClientCredentials,
    RetryPolicy,
    Token,
)
from cdp_sdk.models import luhn_check_digit

BASE_URL = "https://api.example.test"
CANARY_SECRET = "CANARY-SECRET-7f3a9b"
_ICCID_BODY = "894450010219830482"
CANARY_ICCID = _ICCID_BODY + str(luhn_check_digit(_ICCID_BODY))  # 19 digits, Luhn-valid
IMSI = "262011234567890"
ID_TOKEN = re.compile(r"<id:[0-9a-f]{6}>")


def unique_secret(prefix: str = "sx") -> str:
    """A secret no other test registers; its letters keep it out of ``<id:...>`` tokens."""
    return f"{prefix}-{uuid.uuid4().hex}"


def test_canary_iccid_is_a_valid_19_digit_iccid() -> None:
    assert len(CANARY_ICCID) == 19
    assert CANARY_ICCID.isdigit()


# -- redact_identifier / redact_text ----------------------------------------------------------


def test_redact_identifier_is_stable_and_distinct_and_hides_the_digits() -> None:
    first = redact_identifier(CANARY_ICCID)

    assert ID_TOKEN.fullmatch(first)
    assert redact_identifier(CANARY_ICCID) == first
    assert redact_identifier(IMSI) != first
    assert redact_identifier(_ICCID_BODY + "0") != first
    assert CANARY_ICCID not in first
    assert CANARY_ICCID[-6:] not in first


def test_redact_identifier_ignores_a_leading_plus() -> None:
    assert redact_identifier("+491701234567") == redact_identifier("491701234567")


@pytest.mark.parametrize(
    "identifier",
    [CANARY_ICCID, IMSI, "491701234567", "+491701234567", "353456789012345", "8" * 32, "9" * 40],
    ids=["iccid", "imsi", "msisdn", "e164-msisdn", "imei", "eid", "long-run"],
)
def test_redact_text_replaces_identifiers_with_their_token(identifier: str) -> None:
    text = f"SIM {identifier} failed; retry ({identifier})"

    redacted = redact_text(text)

    token = redact_identifier(identifier)
    assert redacted == f"SIM {token} failed; retry ({token})"
    assert identifier.lstrip("+") not in redacted


def test_redact_text_redacts_identifiers_inside_words_and_paths() -> None:
    text = f"/v1/sims/{CANARY_ICCID}/usage?msisdn={IMSI}&x=iccid{CANARY_ICCID}x"

    redacted = redact_text(text)

    assert CANARY_ICCID not in redacted
    assert IMSI not in redacted
    assert redacted.count(redact_identifier(CANARY_ICCID)) == 2


def test_redact_text_redacts_concatenated_identifiers() -> None:
    redacted = redact_text(f"key={CANARY_ICCID}{IMSI}")

    assert CANARY_ICCID not in redacted
    assert IMSI not in redacted
    assert ID_TOKEN.search(redacted)


def test_redact_text_keeps_short_numbers() -> None:
    text = "HTTP 404 after 3 attempts in 1500 ms, page 123456789"
    assert redact_text(text) == text


def test_redact_text_masks_registered_secrets() -> None:
    secret = unique_secret()
    register_secret(secret)

    assert redact_text(f"token={secret}; again: {secret}!") == "token=***; again: ***!"


def test_redact_text_masks_the_longest_secret_first() -> None:
    short = unique_secret("pw")
    long = f"{short}-and-more"
    register_secret(short)
    register_secret(long)

    assert redact_text(f"a {long} b {short} c") == "a *** b *** c"


def test_redact_text_masks_secrets_before_redacting_digits() -> None:
    numeric_secret = "7" + uuid.uuid4().int.__str__()[:15]  # a 16-digit PIN-like secret
    register_secret(numeric_secret)

    redacted = redact_text(f"pin {numeric_secret}")

    assert redacted == "pin ***"


def test_register_secret_ignores_values_below_the_minimum_length() -> None:
    short = "q" + uuid.uuid4().hex[:4]  # five characters
    just_long_enough = "q" + uuid.uuid4().hex[:5]  # six characters
    register_secret(short)
    register_secret(just_long_enough)
    register_secret("")

    assert redact_text(f"[{short}]") == f"[{short}]"
    assert redact_text(f"[{just_long_enough}]") == "[***]"
    assert redact_text("plain text") == "plain text"


# -- redact_url ------------------------------------------------------------------------------


def test_redact_url_strips_userinfo_masks_sensitive_params_and_redacts_ids() -> None:
    url = (
        f"https://user:pass-word-1@api.example.test:8443/v1/sims/{CANARY_ICCID}"
        "?apikey=KEY-VALUE-1&token=TOKEN-VALUE-1&password=PASS-VALUE-1&page=2"
        f"&iccid={CANARY_ICCID}#fragment"
    )

    redacted = redact_url(url)

    token = redact_identifier(CANARY_ICCID)
    assert redacted == (
        f"https://api.example.test:8443/v1/sims/{token}"
        f"?apikey=***&token=***&password=***&page=2&iccid={token}"
    )
    for leaked in ("user", "pass-word-1", "KEY-VALUE-1", "TOKEN-VALUE-1", "PASS-VALUE-1"):
        assert leaked not in redacted


@pytest.mark.parametrize(
    "name", ["api_key", "X-Api-Key", "access_token", "client_secret", "auth", "signature"]
)
def test_redact_url_masks_other_sensitive_param_names(name: str) -> None:
    assert (
        redact_url(f"https://h.example/x?{name}=s3cr3t-value") == f"https://h.example/x?{name}=***"
    )


def test_redact_url_without_credentials_or_query() -> None:
    assert redact_url("https://user@api.example.test/v1/sims") == "https://api.example.test/v1/sims"
    assert redact_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"


def test_redact_url_keeps_ipv6_brackets() -> None:
    assert redact_url("https://u:p@[::1]:8443/x?token=t") == "https://[::1]:8443/x?token=***"


# -- RedactingFilter ----------------------------------------------------------------------------


def test_importing_cdp_sdk_http_installs_one_filter_on_the_httpx_logger() -> None:
    assert cdp_sdk.http.HttpClient is HttpClient
    filters = [f for f in logging.getLogger("httpx").filters if isinstance(f, RedactingFilter)]
    assert len(filters) == 1


def test_redacting_filter_rewrites_records_with_identifiers() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "GET %s -> %d", (CANARY_ICCID, 200), None
    )

    assert RedactingFilter().filter(record) is True

    assert record.getMessage() == f"GET {redact_identifier(CANARY_ICCID)} -> 200"
    assert record.args is None


def test_redacting_filter_leaves_clean_records_alone() -> None:
    args = ("/v1/sims", 200)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET %s -> %d", args, None)

    assert RedactingFilter().filter(record) is True

    assert record.msg == "GET %s -> %d"
    assert record.args is args


async def test_httpx_request_log_line_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    secret = unique_secret()
    register_secret(secret)

    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get(f"{BASE_URL}/v1/sims/{CANARY_ICCID}", params={"key": secret})

    [record] = [r for r in caplog.records if r.name == "httpx"]
    assert record.getMessage() == (
        f"HTTP Request: GET {BASE_URL}/v1/sims/{redact_identifier(CANARY_ICCID)}?key=*** "
        '"HTTP/1.1 200 OK"'
    )
    assert CANARY_ICCID not in caplog.text
    assert secret not in caplog.text


# -- the auth objects ---------------------------------------------------------------------------


def test_auth_objects_do_not_reveal_their_secrets() -> None:
    secret = unique_secret("REPR")  # not the canary: this test registers what it uses
    auths: list[object] = [
        BasicAuth("user", SecretStr(secret)),
        HeaderAuth("X-API-Key", SecretStr(secret), prefix="Key "),
        JsonLoginAuth(
            "/api/v1/authenticate",
            {"application_token": SecretStr(secret)},
            token_field="auth_token",
        ),
        OAuth2ClientCredentials("/oauth/token", "client", SecretStr(secret)),
        Token.bearer(secret, expires_at=None),
    ]
    for auth in auths:
        text = f"{auth!r} {auth!s} {vars(auth)!r}"
        assert secret not in text, type(auth).__name__


# -- end to end: the canaries never leak ----------------------------------------------------------


class CanaryPlatform:
    """A platform that echoes the canary secret, the canary ICCID and the caller's token
    wherever it can: error bodies, and the messages of transport errors.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.mode = "ok"
        self.authorizations: set[str] = set()
        self.tokens: list[str] = []
        self.api_calls = 0
        self.received_secret = False

    async def handler(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        authorization = request.headers.get("Authorization")
        if authorization:
            self.authorizations.add(authorization)
        self.received_secret |= carries_secret(request, self.secret)
        echo = f"{CANARY_ICCID} {self.secret} {authorization} {request.content.decode()}"
        if request.url.path in {"/api/v1/authenticate", "/oauth/token"}:
            return self.login(request, echo)
        self.api_calls += 1
        if self.mode == "transport":
            raise httpx.ConnectError(
                f"cannot reach https://u:{self.secret}@{request.url.host}{request.url.path}",
                request=request,
            )
        if self.mode == "not-found":
            return httpx.Response(
                404, json={"errorCode": "SIM_NOT_FOUND", "errorMessage": f"no SIM: {echo}"}
            )
        if self.mode == "server-error":
            return httpx.Response(500, json={"message": f"backend failed: {echo}"})
        if self.mode == "refuse-login" or (self.mode == "expired" and self.api_calls == 1):
            return httpx.Response(401, json={"message": f"not authorized: {echo}"})
        return httpx.Response(200, json={"iccid": CANARY_ICCID, "token": authorization})

    def login(self, request: httpx.Request, echo: str) -> httpx.Response:
        if self.mode == "refuse-login":
            return httpx.Response(401, json={"code": "AUTH", "message": f"refused: {echo}"})
        if self.mode == "login-transport":
            raise httpx.ReadTimeout(f"timed out sending {echo}", request=request)
        token = f"BEARER-CANARY-{len(self.tokens)}-{uuid.uuid4().hex}"
        self.tokens.append(token)
        return httpx.Response(
            200, json={"auth_token": token, "access_token": token, "expires_in": 3600}
        )


def carries_secret(request: httpx.Request, secret: str) -> bool:
    """Whether the canary secret was sent, in the body or a header (Basic decoded)."""
    values = [request.content.decode(errors="replace"), *request.headers.values()]
    values += [
        base64.b64decode(value.removeprefix("Basic ")).decode()
        for value in request.headers.values()
        if value.startswith("Basic ")
    ]
    return any(secret in value for value in values)


AUTH_FACTORIES: dict[str, Callable[[SecretStr], httpx.Auth]] = {
    "json-login": lambda secret: JsonLoginAuth(
        "/api/v1/authenticate", {"application_token": secret}, token_field="auth_token"
    ),
    "oauth2": lambda secret: OAuth2ClientCredentials(
        "/oauth/token", "client-id", secret, body_format="json"
    ),
    "basic": lambda secret: BasicAuth("user", secret),
    "header": lambda secret: HeaderAuth("Authorization", secret, prefix="Key "),
}

Scenario = Callable[[HttpClient, CanaryPlatform], Awaitable[None]]


async def _get_sim(client: HttpClient) -> None:
    await client.request("GET", "/v1/sims/{iccid}", path_params={"iccid": CANARY_ICCID})


async def _success(client: HttpClient, platform: CanaryPlatform) -> None:
    body = await client.request_json("GET", "/v1/sims/{iccid}", path_params={"iccid": CANARY_ICCID})
    assert body["iccid"] == CANARY_ICCID  # the data itself is returned untouched


async def _expired_token(client: HttpClient, platform: CanaryPlatform) -> None:
    platform.mode = "expired"
    await _get_sim(client)


async def _not_found(client: HttpClient, platform: CanaryPlatform) -> None:
    await _success(client, platform)
    platform.mode = "not-found"
    await _get_sim(client)


async def _server_error(client: HttpClient, platform: CanaryPlatform) -> None:
    await _success(client, platform)
    platform.mode = "server-error"
    await _get_sim(client)


async def _refused_login(client: HttpClient, platform: CanaryPlatform) -> None:
    platform.mode = "refuse-login"
    await _get_sim(client)


async def _refused_check(client: HttpClient, platform: CanaryPlatform) -> None:
    platform.mode = "refuse-login"
    if not await client.authenticate():
        await _get_sim(client)


async def _transport_error(client: HttpClient, platform: CanaryPlatform) -> None:
    await _success(client, platform)
    platform.mode = "transport"
    await _get_sim(client)


async def _login_transport_error(client: HttpClient, platform: CanaryPlatform) -> None:
    platform.mode = "login-transport"
    await _get_sim(client)


# scenario -> (steps, error expected with a login flow, error expected with static auth)
SCENARIOS: dict[str, tuple[Scenario, type[CdpError] | None, type[CdpError] | None]] = {
    "success": (_success, None, None),
    "expired-token": (_expired_token, None, AuthenticationError),
    "not-found": (_not_found, NotFoundError, NotFoundError),
    "server-error": (_server_error, TransientError, TransientError),
    "refused-login": (_refused_login, AuthenticationError, AuthenticationError),
    "refused-check": (_refused_check, AuthenticationError, AuthenticationError),
    "transport-error": (_transport_error, TransientError, TransientError),
    "login-transport-error": (_login_transport_error, TransientError, None),
}


def _exception_texts(error: BaseException) -> Iterator[str]:
    """``str``, ``repr`` and the formatted traceback of ``error`` and its whole chain."""
    yield "".join(traceback.format_exception(error))
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        current = current.__cause__ or current.__context__


@pytest.fixture
async def canary_run(
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Callable[[str, str], Awaitable[tuple[list[str], CanaryPlatform]]]]:
    caplog.set_level(logging.DEBUG)
    clients: list[HttpClient] = []

    async def run(auth_kind: str, scenario: str) -> tuple[list[str], CanaryPlatform]:
        # Registered secrets stay registered for the process, so each run plants a canary
        # of its own; they share the CANARY_SECRET prefix, which must never show up.
        platform = CanaryPlatform(f"{CANARY_SECRET}-{uuid.uuid4().hex[:12]}")
        sleeps: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        auth = AUTH_FACTORIES[auth_kind](SecretStr(platform.secret))
        client = HttpClient(
            connector="toy",
            base_url=BASE_URL,
            auth=auth,
            transport=httpx.MockTransport(platform.handler),
            retry=RetryPolicy(max_retries=2, jitter=lambda: 0.0),
            sleep=fake_sleep,
        )
        clients.append(client)
        records: list[CallRecord] = []
        client.add_observer(records.append)
        texts: list[str] = [repr(auth), str(auth), repr(vars(auth))]
        steps, with_login, with_static = SCENARIOS[scenario]
        expected = with_login if isinstance(auth, LoginTokenAuth) else with_static
        raised: type[CdpError] | None = None
        try:
            await steps(client, platform)
        except CdpError as error:
            texts.extend(_exception_texts(error))
            raised = type(error)
        assert raised is expected
        texts.extend(repr(record) for record in records)
        texts.append(caplog.text)
        texts.extend(record.getMessage() for record in caplog.records)
        if scenario in {"server-error", "transport-error"}:
            assert len(sleeps) == 2  # retried under the policy, without real waiting
            assert "retrying in" in caplog.text
        return texts, platform

    yield run
    for client in clients:
        await client.aclose()


def _assert_no_leak(texts: list[str], platform: CanaryPlatform) -> None:
    leaks = [
        CANARY_SECRET,
        platform.secret,
        CANARY_ICCID,
        *platform.tokens,
        *platform.authorizations,
    ]
    for text in texts:
        for leak in leaks:
            assert leak not in text, f"{leak!r} leaked into {text!r}"


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("auth_kind", list(AUTH_FACTORIES))
async def test_canaries_never_leak(
    canary_run: Callable[[str, str], Awaitable[tuple[list[str], CanaryPlatform]]],
    caplog: pytest.LogCaptureFixture,
    auth_kind: str,
    scenario: str,
) -> None:
    texts, platform = await canary_run(auth_kind, scenario)

    _assert_no_leak(texts, platform)
    # The checks above looked at real output, not at an empty capture.
    assert platform.received_secret
    assert caplog.records
    if platform.api_calls:
        assert redact_identifier(CANARY_ICCID) in caplog.text


async def test_canaries_never_leak_across_all_scenarios_at_once(
    canary_run: Callable[[str, str], Awaitable[tuple[list[str], CanaryPlatform]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    texts: list[str] = []
    platforms: list[CanaryPlatform] = []
    for scenario in SCENARIOS:
        found, platform = await canary_run("json-login", scenario)
        texts.extend(found)
        platforms.append(platform)
    texts.append(caplog.text)

    for platform in platforms:
        _assert_no_leak(texts, platform)
    assert caplog.text.count("HTTP Request:") >= len(SCENARIOS)


# -- identifiers that arrive through vendor codes, request ids and concrete paths ----------


async def test_vendor_code_and_request_id_are_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404,
            headers={"X-Request-Id": f"req-{CANARY_ICCID}"},
            json={"errorCode": f"NO_SIM_{CANARY_ICCID}", "errorMessage": "no such SIM"},
        )

    client = HttpClient(connector="toy", base_url=BASE_URL, transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(NotFoundError) as raised:
            await _get_sim(client)
    finally:
        await client.aclose()

    assert CANARY_ICCID not in f"{raised.value!s} {raised.value!r}"


async def test_a_concrete_path_is_redacted_in_cdp_sdk_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cdp_sdk")
    client = HttpClient(
        connector="toy",
        base_url=BASE_URL,
        transport=httpx.MockTransport(lambda request: httpx.Response(200)),
    )
    try:
        await client.request("GET", f"/v1/sims/{CANARY_ICCID}")
    finally:
        await client.aclose()

    assert "cdp_sdk" in {record.name for record in caplog.records}
    assert CANARY_ICCID not in caplog.text


# -- identifiers written in groups --------------------------------------------------------------

WRITTEN_FORMS = {
    "e164-spaces": ("+88 242 42000001", "8824242000001"),
    "e164-dashes": ("+49-170-1234567", "491701234567"),
    "e164-dots": ("+33.6.12.34.56.78", "33612345678"),
    "e164-area-in-brackets": ("+1 (555) 123-4567", "15551234567"),
    "uk-trunk-zero": ("+44 (0) 20 7946 0958", "4402079460958"),
    "national-brackets": ("(555) 123-4567", "5551234567"),
    "national-dots": ("555.123.4567", "5551234567"),
    "national-slash": ("0170/1234567", "01701234567"),
    "national-space": ("0170 1234567", "01701234567"),
    "french-pairs": ("06 12 34 56 78", "0612345678"),
    "imei-dashes": ("35-209900-176148-1", "352099001761481"),
    "iccid-in-fours": ("8988 3100 0000 0000 017", "8988310000000000017"),
}


@pytest.mark.parametrize(("written", "digits"), WRITTEN_FORMS.values(), ids=list(WRITTEN_FORMS))
def test_identifiers_written_in_groups_are_redacted_to_the_token_of_their_digits(
    written: str, digits: str
) -> None:
    redacted = redact_text(f"SIM {written} not found; retry {written}.")

    token = redact_identifier(digits)
    assert redacted == f"SIM {token} not found; retry {token}."
    assert redact_text(digits) == token  # the same SIM, however written: one token


def test_a_bracketed_msisdn_keeps_its_brackets() -> None:
    assert redact_text("MSISDN (+88 242 42000001)") == (
        f"MSISDN ({redact_identifier('8824242000001')})"
    )


NOT_IDENTIFIERS = {
    "iso-date-and-time": "window 2024-06-15 12:00:00 to 2024-06-16 00:00:00",
    "iso-instant": "at 2024-06-15T12:00:00.123456Z",
    "european-date-and-time": "issued 15.06.2024 12:30",
    "us-date": "due 06/15/2024 18",
    "slash-date": "period 2024/06/15 20",
    "ipv4": "from 192.168.100.200 and 10.0.0.1",
    "decimal-amount": "total 12345678.90 EUR",
    "comma-amount": "total EUR 1,234,567.89",
    "space-thousands": "read 1 073 741 824 bytes",
    "space-thousands-decimals": "cost 12 345 678.90 EUR",
    "dot-thousands": "cost 12.345.678.901,50 EUR",
    "list-of-numbers": "pages 1 2 3 4 5 6 7 8 9 10",
    "short-numbers": "HTTP 404 after 3 attempts in 1500 ms, page 123456789",
    "version": "cdp-sdk 1.2.3.4 over HTTP/1.1 200",
    "signed-amount": "balance +1 234.50",
    "duration": "+1 day, -30 s, retry in 12.5 s",
    "phone-too-short": "+12 34 56",
}


@pytest.mark.parametrize("text", NOT_IDENTIFIERS.values(), ids=list(NOT_IDENTIFIERS))
def test_dates_amounts_addresses_and_short_numbers_are_kept(text: str) -> None:
    assert redact_text(text) == text


def test_a_date_next_to_an_msisdn_stays_and_the_msisdn_goes() -> None:
    redacted = redact_text("2024-06-15 0170 1234567 and 2024-06-15 12:00")

    assert redacted == f"2024-06-15 {redact_identifier('01701234567')} and 2024-06-15 12:00"


def test_grouped_redaction_takes_linear_time_on_hostile_input() -> None:
    import time

    hostile = ["1 " * 50_000, "1-" * 50_000 + "x", "(" * 20_000 + "1", "+" + "12 " * 30_000]
    started = time.perf_counter()
    for text in hostile:
        redact_text(text)
    assert time.perf_counter() - started < 5  # catastrophic backtracking would take hours


# -- the loggers of the whole stack ----------------------------------------------------------------


def test_every_logger_of_the_stack_carries_one_redacting_filter() -> None:
    import cdp_sdk.sync  # noqa: F401 - loads SQLAlchemy and protects its loggers
    from cdp_sdk._redact import PROTECTED_LOGGERS, protect_loggers

    protect_loggers()  # idempotent
    for name in (*PROTECTED_LOGGERS, "httpcore.http11", "httpcore.connection", "asyncio"):
        filters = [f for f in logging.getLogger(name).filters if isinstance(f, RedactingFilter)]
        assert len(filters) == 1, name
    # Children the libraries created at import time are covered too.
    children = [
        name
        for name in logging.root.manager.loggerDict
        if name.startswith("sqlalchemy.") and isinstance(logging.getLogger(name), logging.Logger)
    ]
    assert children
    for name in children:
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters), name


def test_protect_loggers_covers_a_library_child_logger_created_before_it() -> None:
    from cdp_sdk._redact import protect_loggers

    logger = logging.getLogger(f"httpcore.brand_new_{uuid.uuid4().hex}")
    assert not logger.filters

    protect_loggers()

    assert [type(f) for f in logger.filters] == [RedactingFilter]


def test_redacting_filter_redacts_tracebacks_and_stacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(f"cdp_sdk_test_{uuid.uuid4().hex}")
    logger.addFilter(RedactingFilter())
    caplog.set_level(logging.DEBUG, logger=logger.name)
    try:
        raise ValueError(f"cannot store SIM {CANARY_ICCID}")
    except ValueError:
        logger.exception("failed", stack_info=True)

    assert "cannot store SIM" in caplog.text
    assert CANARY_ICCID not in caplog.text
    [record] = caplog.records
    assert CANARY_ICCID not in (record.exc_text or "")
    assert redact_identifier(CANARY_ICCID) in (record.exc_text or "")


def test_httpcore_debug_lines_with_response_headers_are_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Over a real loopback connection, httpcore logs every response header at DEBUG;
    emnify's ``Link`` header carries ``q=iccid:<ICCID>``."""
    from cdp_sdk.sandbox import Emulator, json_response, route

    class LinkEmulator(Emulator):
        @route("GET", "/api/v1/endpoint", auth=False)
        def endpoints(self, request: object) -> httpx.Response:
            link = f'</api/v1/endpoint?page=2&q=iccid:{CANARY_ICCID}>; rel="next"'
            return json_response([], headers={"Link": link, "X-Msisdn": "+88 242 42000001"})

    caplog.set_level(logging.DEBUG)
    with LinkEmulator().serve() as server, httpx.Client(base_url=server.url) as client:
        response = client.get("/api/v1/endpoint")
    assert CANARY_ICCID in response.headers["Link"]  # the data itself is untouched

    names = {record.name for record in caplog.records}
    assert {"httpcore.http11", "httpcore.connection"} <= names
    assert "receive_response_headers.complete" in caplog.text
    assert redact_identifier(CANARY_ICCID) in caplog.text
    assert CANARY_ICCID not in caplog.text
    assert "42000001" not in caplog.text


# -- exception chains hold no body -----------------------------------------------------------------


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception behind it, suppressed contexts included."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]


async def test_a_body_that_is_not_json_stays_out_of_the_error_and_its_context() -> None:
    body = f"<html>SIM {CANARY_ICCID} {CANARY_SECRET}: maintenance</html>"
    client = HttpClient(
        connector="toy",
        base_url=BASE_URL,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, text=body)),
    )
    try:
        with pytest.raises(cdp_sdk.errors.UnexpectedResponseError) as raised:
            await client.request_json("GET", "/v1/sims")
    finally:
        await client.aclose()

    chain = list(_chain(raised.value))
    assert chain == [raised.value]  # nothing behind it: no JSONDecodeError with the body
    assert "not JSON" in str(raised.value)


async def test_an_unmappable_record_leaves_no_parsing_error_with_its_values_behind() -> None:
    from cdp_sdk.connectors.sandbox import SandboxConnector  # noqa: F401 - registers sandbox

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/v1/auth"):
            return httpx.Response(200, json={"access_token": "t" * 20, "expires_in": 3600})
        sim = {"iccid": CANARY_ICCID, "status": "active", "created_at": f"SIM {CANARY_ICCID}"}
        return httpx.Response(200, json=sim)

    connector = cdp_sdk.connect_async(
        "sandbox", base_url=BASE_URL, api_key="k" * 12, transport=httpx.MockTransport(handler)
    )
    try:
        with pytest.raises(cdp_sdk.errors.UnexpectedResponseError) as raised:
            await connector.subscription(CANARY_ICCID)
    finally:
        await connector.aclose()

    assert "Invalid isoformat" in str(raised.value)  # the reason is named, the value is not
    for error in _chain(raised.value):
        assert CANARY_ICCID not in f"{error!s} {error!r} {vars(error)!r}"
