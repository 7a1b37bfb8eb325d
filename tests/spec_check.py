"""Strict checks of HTTP exchanges against a vendor's official OpenAPI document.

``openapi-core`` validates what a request and a response hold (types, enums, formats,
maxima) but lets through what the spec does not mention: a query parameter or a form field
the operation does not declare, an answer field the schema lacks. :class:`SpecCheck` adds
those checks on top: requests through the test kit's strict
:class:`~cdp_sdk.testing.OpenApiRequestChecker`, answers here (a documented status, and no
field the schema lacks).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from cdp_sdk.testing import OpenApiRequestChecker

__all__ = ["SpecCheck", "SpecViolation"]

FORM = "application/x-www-form-urlencoded"


class SpecViolation(AssertionError):
    """An exchange the spec does not allow."""


class _Request:
    """An ``httpx.Request`` as openapi-core reads it (the raw, still encoded path)."""

    def __init__(self, request: httpx.Request) -> None:
        self._request = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return f"{self._request.url.scheme}://{self._request.url.netloc.decode()}"

    @property
    def path(self) -> str:
        return self._request.url.raw_path.decode("ascii").split("?", 1)[0]

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._request.content or None

    @property
    def content_type(self) -> str:
        return str(self._request.headers.get("Content-Type", "")).lower()


class _Response:
    """An ``httpx.Response`` as openapi-core reads it."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("Content-Type", "application/json").lower()
        self.data = response.content or None


@dataclass(frozen=True)
class _Operation:
    template: str
    method: str
    spec: Mapping[str, Any]
    path_item: Mapping[str, Any]


class SpecCheck:
    """One OpenAPI document, and strict checks of requests and answers against it."""

    def __init__(self, path: Path) -> None:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with path.open(encoding="utf-8") as file:
            self.document: dict[str, Any] = yaml.load(file, Loader=loader)
        self.openapi = OpenAPI.from_dict(self.document)
        self._strict = OpenApiRequestChecker(self.document)
        self._templates = [
            (re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(t)) + "$"), t)
            for t in self.document["paths"]
        ]

    def operation(self, request: httpx.Request) -> _Operation:
        """The spec's operation for ``request``; :class:`SpecViolation` when there is none."""
        path = request.url.path
        method = request.method.lower()
        for pattern, template in self._templates:
            item = self.document["paths"][template]
            if pattern.match(path) and method in item:
                return _Operation(template, method, item[method], item)
        raise SpecViolation(f"{request.method} {path}: no such operation in the spec")

    def name(self, request: httpx.Request) -> str:
        """``METHOD /template`` of the operation a request calls."""
        operation = self.operation(request)
        return f"{operation.method.upper()} {operation.template}"

    # -- requests -----------------------------------------------------------------------

    def check_request(self, request: httpx.Request) -> None:
        """The request as the spec describes it, and nothing it does not declare (the test
        kit's strict :class:`~cdp_sdk.testing.OpenApiRequestChecker`, then openapi-core)."""
        problems = self._strict.problems(request)
        if problems:
            raise SpecViolation(f"{request.method} {request.url.path}: {'; '.join(problems)}")
        self.openapi.validate_request(_Request(request))

    # -- responses ----------------------------------------------------------------------

    def check_response(self, request: httpx.Request, response: httpx.Response) -> None:
        """A documented status with a body that fits its schema and holds no field the
        schema lacks."""
        operation = self.operation(request)
        documented = operation.spec.get("responses", {}).get(str(response.status_code))
        if documented is None:
            raise SpecViolation(
                f"{self.name(request)}: status {response.status_code} is not documented"
            )
        self.openapi.validate_response(_Request(request), _Response(response))
        content = self._resolve(documented).get("content", {})
        media = content.get("application/json")
        if media is not None:
            self._no_undeclared(json.loads(response.content), media["schema"], "body")

    def _no_undeclared(self, value: Any, schema: Mapping[str, Any], where: str) -> None:
        schema = self._resolve(schema)
        if isinstance(value, dict):
            properties = schema.get("properties")
            if properties is None or schema.get("additionalProperties"):
                return  # a free-form object (``links``, ``period``, package entries)
            extra = sorted(set(value) - set(properties))
            if extra:
                raise SpecViolation(f"{where}: fields the spec lacks {extra}")
            for key, item in value.items():
                self._no_undeclared(item, properties[key], f"{where}.{key}")
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                self._no_undeclared(item, schema["items"], f"{where}[{index}]")

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node
