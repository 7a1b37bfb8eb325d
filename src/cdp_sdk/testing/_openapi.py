"""A strict check of the requests a connector sends, against the vendor's OpenAPI spec.

General-purpose validators accept what a spec does not forbid: openapi-core ignores a
query parameter the operation does not name, and a JSON schema without
``additionalProperties: false`` accepts any extra field. A connector that sends either is
still wrong, because the real API may reject, ignore or misread it. This checker reads the
spec the other way round: a request is correct when the spec names everything in it.

It checks the path against the spec's templates and the method against the path's
operations; each query, path and header parameter by name, type, format, range, length,
pattern and enum; required parameters and headers; the security scheme's credentials; the
content type; and the body against its schema, where a property the schema does not name
is a problem unless the schema allows additional properties. JSON and form-encoded bodies
are read (form values are typed the way query values are).

Local ``$ref`` only; OpenAPI 3.0 and 3.1 schema forms (``nullable``, type lists, boolean
and numeric exclusive bounds).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

__all__ = ["CheckingTransport", "OpenApiRequestChecker", "SpecOperation", "SpecViolation"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_JSON = re.compile(r"^application/([\w.+-]+\+)?json$")
_FORM = "application/x-www-form-urlencoded"
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class SpecViolation(AssertionError):
    """A request the spec does not allow; ``problems`` lists every reason found."""

    def __init__(self, request_line: str, problems: Sequence[str]) -> None:
        self.request_line = request_line
        self.problems = tuple(problems)
        super().__init__(f"{request_line}: " + "; ".join(self.problems))


@dataclass(frozen=True)
class SpecOperation:
    """The spec operation a request was matched to."""

    method: str
    path: str
    """The path template as the spec writes it, e.g. ``/sims/{sim_id}``."""
    spec: Mapping[str, Any]
    """The operation object."""


class OpenApiRequestChecker:
    """Checks ``httpx`` requests against an OpenAPI 3 spec, strictly.

    Args:
        spec: The parsed spec (a mapping, as YAML or JSON loads it).
        base_path: The path prefix requests carry before the spec's paths (``/v1`` for a
            server ``https://g.api.soracom.io/v1``). By default the path of the spec's
            server URLs: the longest one a request starts with is removed.
    """

    def __init__(self, spec: Mapping[str, Any], *, base_path: str | None = None) -> None:
        self.spec = spec
        if base_path is not None:
            self._bases = [base_path.rstrip("/")]
        else:
            self._bases = sorted(
                {_server_path(server) for server in spec.get("servers") or [{"url": "/"}]},
                key=len,
                reverse=True,
            )
        self._templates = [
            (template, _compile(template), _literal_segments(template))
            for template in spec.get("paths") or {}
        ]

    @classmethod
    def load(cls, path: str | Path, *, base_path: str | None = None) -> OpenApiRequestChecker:
        """A checker for the spec in a YAML or JSON file (YAML needs PyYAML)."""
        text = Path(path).read_text(encoding="utf-8")
        if str(path).endswith(".json"):
            return cls(json.loads(text), base_path=base_path)
        import yaml  # the test extra's dependency, imported only for YAML specs

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        # A safe loader (the C one when PyYAML has it): no object is ever built from tags.
        return cls(yaml.load(text, Loader=loader), base_path=base_path)  # nosec B506

    # -- the checks -----------------------------------------------------------------------

    def check(self, request: httpx.Request) -> SpecOperation:
        """The operation ``request`` calls; raises :class:`SpecViolation` if it breaks the
        spec in any way."""
        operation, problems = self._inspect(request)
        if problems or operation is None:
            raise SpecViolation(_request_line(request), problems)
        return operation

    def problems(self, request: httpx.Request) -> list[str]:
        """Every way ``request`` breaks the spec (empty when it conforms)."""
        return self._inspect(request)[1]

    def transport(self, inner: httpx.BaseTransport | httpx.AsyncBaseTransport) -> CheckingTransport:
        """An ``httpx`` transport that checks every request before passing it to ``inner``."""
        return CheckingTransport(self, inner)

    def _inspect(self, request: httpx.Request) -> tuple[SpecOperation | None, list[str]]:
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        relative = self._relative(path)
        if relative is None:
            return None, [f"the path is not under the spec's servers {self._bases}"]
        found = self._match(relative)
        if found is None:
            return None, ["no path of the spec matches"]
        template, values = found
        item = self.spec["paths"][template]
        method = request.method.lower()
        operation = item.get(method)
        if operation is None:
            documented = sorted(m.upper() for m in _METHODS if m in item)
            return None, [f"{template} documents {', '.join(documented)}, not {request.method}"]
        spec_operation = SpecOperation(request.method.upper(), template, operation)
        parameters = self._parameters(item, operation)
        problems: list[str] = []
        security_params = self._security(operation, request, problems)
        problems += self._path_problems(parameters, values)
        problems += self._query_problems(parameters, request, security_params)
        problems += self._header_problems(parameters, request)
        problems += self._body_problems(operation, request)
        return spec_operation, problems

    def _relative(self, path: str) -> str | None:
        for base in self._bases:
            if not base:
                return path
            if path == base or path.startswith(base + "/"):
                return path[len(base) :] or "/"
        return None

    def _match(self, path: str) -> tuple[str, dict[str, str]] | None:
        matches = [
            (literals, template, match.groupdict())
            for template, pattern, literals in self._templates
            if (match := pattern.fullmatch(path)) is not None
        ]
        if not matches:
            return None
        _, template, values = max(matches, key=lambda found: found[0])
        return template, {name: unquote(value) for name, value in values.items()}

    def _parameters(
        self, item: Mapping[str, Any], operation: Mapping[str, Any]
    ) -> dict[tuple[str, str], Mapping[str, Any]]:
        merged: dict[tuple[str, str], Mapping[str, Any]] = {}
        for raw in (*(item.get("parameters") or ()), *(operation.get("parameters") or ())):
            parameter = self._resolve(raw)
            merged[(parameter["in"], parameter["name"])] = parameter
        return merged

    def _security(
        self, operation: Mapping[str, Any], request: httpx.Request, problems: list[str]
    ) -> set[str]:
        """Checks the credentials; returns the query parameters that carry them."""
        requirements = operation.get("security", self.spec.get("security"))
        schemes = (self.spec.get("components") or {}).get("securitySchemes") or {}
        if not requirements:
            return set()
        query_names: set[str] = set()
        for alternative in requirements:
            if not alternative:
                return set()  # an empty requirement: anonymous access is allowed
            missing = []
            for name in alternative:
                scheme = self._resolve(schemes.get(name) or {})
                present, query_name = _credential_present(scheme, request)
                if query_name:
                    query_names.add(query_name)
                if not present:
                    missing.append(name)
            if not missing:
                return query_names
        problems.append(f"no credentials for any of the security schemes {requirements}")
        return query_names

    def _path_problems(
        self, parameters: Mapping[tuple[str, str], Mapping[str, Any]], values: Mapping[str, str]
    ) -> list[str]:
        problems = []
        for name, value in values.items():
            parameter = parameters.get(("path", name))
            if parameter is None:
                continue  # a template variable the spec does not describe: any text
            problems += self._value_problems(parameter, value, f"path parameter {name}")
        return problems

    def _query_problems(
        self,
        parameters: Mapping[tuple[str, str], Mapping[str, Any]],
        request: httpx.Request,
        credentials: set[str],
    ) -> list[str]:
        problems = []
        query = request.url.params
        documented = {name for (where, name) in parameters if where == "query"}
        for name in dict.fromkeys(query.keys()):
            if name not in documented and name not in credentials:
                problems.append(f"query parameter {name} is not documented")
        for (where, name), parameter in parameters.items():
            if where != "query":
                continue
            values = query.get_list(name)
            if not values:
                if parameter.get("required"):
                    problems.append(f"required query parameter {name} is missing")
                continue
            problems += self._multi_problems(parameter, values, f"query parameter {name}")
        return problems

    def _header_problems(
        self, parameters: Mapping[tuple[str, str], Mapping[str, Any]], request: httpx.Request
    ) -> list[str]:
        problems = []
        for (where, name), parameter in parameters.items():
            if where != "header":
                continue
            value = request.headers.get(name)
            if value is None:
                if parameter.get("required"):
                    problems.append(f"required header {name} is missing")
                continue
            problems += self._value_problems(parameter, value, f"header {name}")
        return problems

    def _body_problems(self, operation: Mapping[str, Any], request: httpx.Request) -> list[str]:
        try:
            content = request.content
        except httpx.RequestNotRead:
            content = request.read()
        body_spec = operation.get("requestBody")
        if body_spec is None:
            return ["the operation takes no request body"] if content else []
        body_spec = self._resolve(body_spec)
        if not content:
            return ["the request body is required"] if body_spec.get("required") else []
        media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        types = {
            key.split(";")[0].strip().lower(): value
            for key, value in (body_spec.get("content") or {}).items()
        }
        if not types:
            return []
        if media not in types:
            return [f"content type {media or '(none)'} is not one of {sorted(types)}"]
        schema = (types[media] or {}).get("schema")
        if schema is None:
            return []
        if _JSON.match(media):
            try:
                value = json.loads(content)
            except ValueError:
                return ["the body is not valid JSON"]
            return self._schema_problems(schema, value, "body", coerce=False)
        if media == _FORM:
            form: dict[str, list[str]] = {}
            for key, item in parse_qsl(content.decode(), keep_blank_values=True):
                form.setdefault(key, []).append(item)
            return self._form_problems(schema, form)
        return []

    # -- parameters -----------------------------------------------------------------------

    def _multi_problems(
        self, parameter: Mapping[str, Any], values: list[str], where: str
    ) -> list[str]:
        schema = self._resolve(parameter.get("schema") or {})
        if _types(schema) & {"array"}:
            explode = parameter.get("explode", parameter.get("style", "form") == "form")
            items = values if explode else [part for value in values for part in value.split(",")]
            problems = self._schema_problems(schema, items, where, coerce=True)
            return problems
        if len(values) > 1:
            return [f"{where} is given {len(values)} times"]
        return self._value_problems(parameter, values[0], where)

    def _value_problems(self, parameter: Mapping[str, Any], value: str, where: str) -> list[str]:
        schema = parameter.get("schema")
        if schema is None:
            return []
        return self._schema_problems(schema, value, where, coerce=True)

    def _form_problems(self, schema: Any, form: Mapping[str, list[str]]) -> list[str]:
        schema = self._merged(schema)
        properties = schema.get("properties") or {}
        problems = [
            f"body: required property {name} is missing"
            for name in schema.get("required") or ()
            if name not in form
        ]
        for name, values in form.items():
            where = f"body.{name}"
            if name not in properties:
                if _closed(schema):
                    problems.append(f"{where} is not a property the schema names")
                continue
            sub = self._resolve(properties[name])
            value: Any = values if _types(sub) & {"array"} else values[-1]
            if len(values) > 1 and not _types(sub) & {"array"}:
                problems.append(f"{where} is given {len(values)} times")
            problems += self._schema_problems(sub, value, where, coerce=True)
        return problems

    # -- schemas --------------------------------------------------------------------------

    def _schema_problems(self, schema: Any, value: Any, where: str, *, coerce: bool) -> list[str]:
        schema = self._merged(schema)
        if value is None:
            nullable = schema.get("nullable") or "null" in _types(schema)
            return [] if nullable or not schema else [f"{where} is null"]
        for key in ("oneOf", "anyOf"):
            if key in schema:
                results = [
                    self._schema_problems(option, value, where, coerce=coerce)
                    for option in schema[key]
                ]
                if not any(not result for result in results):
                    return min(results, key=len)
        types = _types(schema)
        if types:
            value, kind = _typed(value, types, coerce=coerce)
            if kind is None:
                return [f"{where} is not of type {'/'.join(sorted(types))}"]
        problems = []
        if "enum" in schema and value not in schema["enum"]:
            problems.append(f"{where} is not one of {schema['enum']}")
        if isinstance(value, str):
            problems += _string_problems(schema, value, where)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            problems += _number_problems(schema, value, where)
        elif isinstance(value, list):
            problems += self._array_problems(schema, value, where, coerce=coerce)
        elif isinstance(value, dict):
            problems += self._object_problems(schema, value, where, coerce=coerce)
        return problems

    def _array_problems(
        self, schema: Mapping[str, Any], value: list[Any], where: str, *, coerce: bool
    ) -> list[str]:
        problems = []
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{where} has fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{where} has more than {schema['maxItems']} items")
        items = schema.get("items")
        if items:
            for index, item in enumerate(value):
                problems += self._schema_problems(items, item, f"{where}[{index}]", coerce=coerce)
        return problems

    def _object_problems(
        self, schema: Mapping[str, Any], value: Mapping[str, Any], where: str, *, coerce: bool
    ) -> list[str]:
        properties = schema.get("properties") or {}
        problems = [
            f"{where}: required property {name} is missing"
            for name in schema.get("required") or ()
            if name not in value
        ]
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                sub = self._resolve(properties[name])
                if sub.get("readOnly"):
                    problems.append(f"{where}.{name} is read-only")
                problems += self._schema_problems(sub, item, f"{where}.{name}", coerce=coerce)
            elif isinstance(extra, Mapping) and extra:
                problems += self._schema_problems(extra, item, f"{where}.{name}", coerce=coerce)
            elif _closed(schema):
                problems.append(f"{where}.{name} is not a property the schema names")
        return problems

    def _merged(self, schema: Any) -> dict[str, Any]:
        """``schema`` with its ``$ref`` resolved and its ``allOf`` parts merged into one."""
        resolved: dict[str, Any] = dict(self._resolve(schema))
        parts = resolved.pop("allOf", None)
        if not parts:
            return resolved
        merged: dict[str, Any] = {}
        for part in (*(self._merged(part) for part in parts), resolved):
            for key, item in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **item}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *item]
                else:
                    merged[key] = item
        return merged

    def _resolve(self, node: Any) -> Mapping[str, Any]:
        seen = 0
        while isinstance(node, Mapping) and "$ref" in node:
            reference = str(node["$ref"])
            if not reference.startswith("#/"):
                raise ValueError(f"only local references are supported, not {reference}")
            node = self.spec
            for key in reference[2:].split("/"):
                node = node[key.replace("~1", "/").replace("~0", "~")]
            seen += 1
            if seen > 50:
                raise ValueError(f"a $ref cycle at {reference}")
        if isinstance(node, bool):
            return {} if node else {"not": {}}
        return node if isinstance(node, Mapping) else {}


class CheckingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Checks each request against the spec, then passes it to the inner transport.

    A request that breaks the spec raises :class:`SpecViolation` at once (it reaches the
    test, not the connector's error handling); ``operations`` lists what was called.
    """

    def __init__(
        self,
        checker: OpenApiRequestChecker,
        inner: httpx.BaseTransport | httpx.AsyncBaseTransport,
    ) -> None:
        self.checker = checker
        self.inner = inner
        self.operations: list[SpecOperation] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.operations.append(self.checker.check(request))
        if not isinstance(self.inner, httpx.BaseTransport):
            raise TypeError("the inner transport is async only")
        return self.inner.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.operations.append(self.checker.check(request))
        if not isinstance(self.inner, httpx.AsyncBaseTransport):
            raise TypeError("the inner transport is sync only")
        return await self.inner.handle_async_request(request)


# -- helpers ---------------------------------------------------------------------------------


def _server_path(server: Mapping[str, Any]) -> str:
    url = str(server.get("url") or "/")
    for name, variable in (server.get("variables") or {}).items():
        url = url.replace("{" + name + "}", str(variable.get("default", "")))
    return urlsplit(url).path.rstrip("/")


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    pattern = "".join(
        f"(?P<{_group(part[1:-1])}>[^/]+)" if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(pattern)


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _literal_segments(template: str) -> int:
    return sum(1 for segment in template.split("/") if segment and "{" not in segment)


def _credential_present(
    scheme: Mapping[str, Any], request: httpx.Request
) -> tuple[bool, str | None]:
    kind = scheme.get("type")
    if kind == "apiKey":
        name = str(scheme.get("name"))
        where = scheme.get("in")
        if where == "header":
            return name in request.headers, None
        if where == "query":
            return name in request.url.params, name
        return name in request.headers.get("Cookie", ""), None
    authorization = request.headers.get("Authorization", "")
    if kind == "http":
        expected = str(scheme.get("scheme", "")).lower()
        return authorization.lower().startswith(expected + " "), None
    if kind in ("oauth2", "openIdConnect"):
        return authorization.lower().startswith("bearer "), None
    return True, None


def _types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    if kind is None:
        return set()
    return {kind} if isinstance(kind, str) else set(kind)


def _closed(schema: Mapping[str, Any]) -> bool:
    """Whether properties the schema does not name are problems: the schema names some
    and allows no others (or forbids others outright)."""
    extra = schema.get("additionalProperties")
    if extra is False:
        return True
    return bool(schema.get("properties")) and extra in (None, {})


def _typed(value: Any, types: set[str], *, coerce: bool) -> tuple[Any, str | None]:
    """``value`` as one of ``types`` (reading text when ``coerce``), and the type it is."""
    for kind in sorted(types, key=_TYPE_ORDER.index):
        if kind == "null" and value is None:
            return value, kind
        if kind == "boolean":
            if isinstance(value, bool):
                return value, kind
            if coerce and value in ("true", "false"):
                return value == "true", kind
        elif kind == "integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value, kind
            if isinstance(value, float) and value.is_integer():
                return int(value), kind
            if coerce and isinstance(value, str) and _INTEGER.match(value):
                return int(value), kind
        elif kind == "number":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value, kind
            if coerce and isinstance(value, str) and _NUMBER.match(value):
                return float(value), kind
        elif isinstance(value, _PLAIN.get(kind, ())):
            return value, kind
    return value, None


_TYPE_ORDER = ["null", "boolean", "integer", "number", "array", "object", "string"]
_PLAIN: dict[str, type] = {"string": str, "array": list, "object": dict}


def _string_problems(schema: Mapping[str, Any], value: str, where: str) -> Iterator[str]:
    if "minLength" in schema and len(value) < schema["minLength"]:
        yield f"{where} is shorter than {schema['minLength']}"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        yield f"{where} is longer than {schema['maxLength']}"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        yield f"{where} does not match {schema['pattern']}"


def _number_problems(schema: Mapping[str, Any], value: float, where: str) -> Iterator[str]:
    low, high = schema.get("minimum"), schema.get("maximum")
    exclusive_low, exclusive_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(exclusive_low, int | float) and not isinstance(exclusive_low, bool):
        low, exclusive_low = exclusive_low, True
    if isinstance(exclusive_high, int | float) and not isinstance(exclusive_high, bool):
        high, exclusive_high = exclusive_high, True
    if low is not None and (value < low or (exclusive_low is True and value == low)):
        yield f"{where} is below {'or at ' if exclusive_low is True else ''}the minimum {low}"
    if high is not None and (value > high or (exclusive_high is True and value == high)):
        yield f"{where} is above {'or at ' if exclusive_high is True else ''}the maximum {high}"


def _request_line(request: httpx.Request) -> str:
    return f"{request.method} {request.url.path}"
