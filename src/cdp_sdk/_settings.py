"""Connector settings: the pydantic model every connector extends, and its validation."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Self

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

__all__ = ["ConnectorSettings", "validate_settings"]

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
