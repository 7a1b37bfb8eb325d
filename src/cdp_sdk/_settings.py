"""Connector settings: the pydantic model every connector extends, and its validation."""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Mapping
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cdp_sdk.errors import ConfigurationError
from cdp_sdk.http import check_base_url

__all__ = ["ConnectorSettings", "InsecureTLSWarning", "settings_problems", "validate_settings"]

_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class InsecureTLSWarning(UserWarning):
    """A connector was made with ``verify=False``: its TLS certificates are not checked,
    so anyone on the path can read and change its traffic, credentials included. Shown on
    every connect."""


# Every time, not once per call site: one forgotten ``verify=False`` must stay visible.
# Appended, so that a filter the application sets itself still wins.
warnings.simplefilter("always", InsecureTLSWarning, append=True)

_COUNT_BOUNDS: dict[str, tuple[int, int | None]] = {
    "max_retries": (0, 10),
    "max_concurrency": (1, None),
    "max_response_bytes": (1024, None),
}


class ConnectorSettings(BaseModel):
    """Settings every connector accepts. A connector subclasses this to add its own
    (credentials as ``SecretStr``) and to set its platform's defaults, e.g. ``base_url``
    and ``rate_limit``."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    base_url: str = Field(description="Scheme and host, plus any deployment prefix.")
    timeout: float = Field(
        30.0, gt=0, description="Seconds an HTTP read, write or pool wait may take (connect: 10)."
    )
    max_retries: int = Field(3, ge=0, le=10, description="Retries of a failed idempotent call.")
    rate_limit: float | None = Field(
        None, gt=0, description="Requests per second; None for no client-side limit."
    )
    max_concurrency: int | None = Field(
        None, ge=1, description="Calls in flight at once; None for no cap."
    )
    strict: bool = Field(
        True, description="Raise on a record that cannot be mapped (False: log and skip it)."
    )
    allow_insecure_http: bool = Field(
        False, description="Allow plain http:// to a host that is not loopback."
    )
    max_response_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="The largest response body read, in bytes after decompression "
        "(ResponseTooLargeError past it).",
    )
    verify: bool | str = Field(
        True,
        description="TLS verification: True (the default CA bundle, or SSL_CERT_FILE / "
        "SSL_CERT_DIR when set), the path of a PEM CA bundle (e.g. a TLS-inspecting "
        "proxy's CA), or False (no verification: warns on every connect).",
    )
    proxy: SecretStr | None = Field(
        None,
        description="A proxy URL for every request (http, https or socks5); None: the "
        "standard HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY variables apply.",
    )

    @field_validator("timeout", "rate_limit")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        # Checked here as well as by Field(gt=0): a connector that overrides the default
        # (``rate_limit: float | None = 1.0``) drops the Field's constraints.
        if value is not None and value <= 0:
            raise ValueError("must be greater than 0")
        return value

    @field_validator("max_retries", "max_concurrency", "max_response_bytes")
    @classmethod
    def _counts(cls, value: int | None, info: ValidationInfo) -> int | None:
        low, high = _COUNT_BOUNDS[info.field_name or ""]
        if value is not None and (value < low or (high is not None and value > high)):
            raise ValueError(f"must be at least {low}" + (f" and at most {high}" if high else ""))
        return value

    @field_validator("verify")
    @classmethod
    def _ca_bundle_exists(cls, value: bool | str) -> bool | str:
        # The path is not echoed: messages never carry a setting's value.
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("must be True, False or the path of a CA bundle")
            if not os.path.exists(os.path.expanduser(value)):
                raise ValueError("no CA bundle file or directory at this path")
        return value

    @field_validator("proxy")
    @classmethod
    def _proxy_is_a_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in _PROXY_SCHEMES or not parts.hostname:
                raise ValueError(
                    "must be a proxy URL such as http://proxy.example.com:3128 "
                    f"(schemes: {', '.join(_PROXY_SCHEMES)})"
                )
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url_is_absolute(cls, value: str) -> str:
        return check_base_url(value, allow_insecure_http=True)

    @model_validator(mode="after")
    def _base_url_is_secure(self) -> Self:
        check_base_url(self.base_url, allow_insecure_http=self.allow_insecure_http)
        return self

    @classmethod
    def secret_fields(cls) -> tuple[str, ...]:
        """The names of the settings that hold secrets."""
        return tuple(
            name
            for name, field in cls.model_fields.items()
            if field.annotation is SecretStr or field.annotation == SecretStr | None
        )


def validate_settings(
    model: type[ConnectorSettings], values: Mapping[str, Any], *, connector: str
) -> ConnectorSettings:
    """``values`` as a validated settings object, or a :class:`ConfigurationError` that
    names each bad, missing or unknown setting (with the closest valid name for a typo)
    and never echoes a value."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = [_describe(error, model) for error in exc.errors(include_input=False)]
    raise ConfigurationError(
        f"invalid settings for connector {connector!r}: " + "; ".join(problems),
        connector=connector,
    )


def settings_problems(
    model: type[ConnectorSettings],
    values: Mapping[str, Any],
    *,
    unknown_values: frozenset[str] = frozenset(),
) -> list[str]:
    """What is wrong with ``values``, one message per problem (as in
    :func:`validate_settings`); an empty list when they validate.

    ``unknown_values`` names settings whose value is not known yet (an unset environment
    variable, reported on its own): they count as given, and their own checks are not
    reported.
    """
    given = {key: value for key, value in values.items() if key not in unknown_values}
    try:
        model.model_validate(given)
    except ValidationError as exc:
        return [
            _describe(error, model)
            for error in exc.errors(include_input=False)
            if not (error["loc"] and str(error["loc"][0]) in unknown_values)
        ]
    return []


def _describe(error: Mapping[str, Any], model: type[ConnectorSettings]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:
        return message
    name = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"missing setting {name!r}"
    if error["type"] == "extra_forbidden":
        valid = sorted(model.model_fields)
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"valid settings: {', '.join(valid)}"
        return f"unknown setting {name!r} ({hint})"
    return f"setting {name!r}: {message}"
