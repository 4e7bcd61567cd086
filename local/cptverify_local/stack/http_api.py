"""A loopback HTTP server that plays API Gateway (REST API, Lambda proxy integration).

Each HTTP request is matched against the routes the template declares (`Events` of type `Api`
on `AWS::Serverless::Function` resources), checked for an API key as a usage plan would, and
turned into the REST proxy event our handlers receive on AWS: `resource`, `path`,
`pathParameters`, `queryStringParameters` (single and multi-value), headers,
`requestContext.identity.apiKey`/`apiKeyId`, `requestId`, `stage`. The handler's proxy result
(`statusCode`, `headers`, `multiValueHeaders`, `body`, `isBase64Encoded`) becomes the HTTP answer.

Extra local-only routes (such as a schedule upload) are plain Python callables that receive the
same event. Nothing here logs a body, a query string or a header value.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cptverify.observability import logger

ProxyEvent = dict[str, Any]
ProxyResult = dict[str, Any]
Invoke = Callable[[str, ProxyEvent], ProxyResult]

# API Gateway refuses payloads above 10 MB before the integration runs.
MAX_BODY_BYTES = 10 * 1024 * 1024
LOCAL_ACCOUNT_ID = "123456789012"
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class ApiKeyIdentity:
    """What a usage plan knows about a valid key: its id, its value and the tenant it serves."""

    key_id: str
    value: str
    tenant_id: str


@dataclass(frozen=True)
class Route:
    """One API resource and method, and the function that serves it."""

    method: str
    resource: str
    function: str
    api_key_required: bool = True
    pattern: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", _resource_pattern(self.resource))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route serves `method` on `path`, else None."""
        if self.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name.rstrip("+"): unquote(value) for name, value in found.groupdict().items()}


def _resource_pattern(resource: str) -> re.Pattern[str]:
    parts: list[str] = []
    for piece in re.split(r"(\{[^}]+\})", resource):
        if piece.startswith("{") and piece.endswith("}"):
            name = piece[1:-1]
            greedy = name.endswith("+")
            group = re.sub(r"\W", "_", name.rstrip("+"))
            parts.append(f"(?P<{group}>.+)" if greedy else f"(?P<{group}>[^/]+)")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def routes_from_template(template: Mapping[str, Any]) -> list[Route]:
    """The API routes a SAM template declares, most specific first.

    A route needs a key unless its event or the API's `Auth` says `ApiKeyRequired: false`.
    """
    api_defaults: dict[str, bool] = {}
    resources: Mapping[str, Any] = template.get("Resources", {})
    for name, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Api":
            auth = resource.get("Properties", {}).get("Auth", {}) or {}
            api_defaults[name] = bool(auth.get("ApiKeyRequired", False))
    globals_auth = template.get("Globals", {}).get("Api", {}).get("Auth", {}) or {}
    default_required = bool(globals_auth.get("ApiKeyRequired", False))

    routes: list[Route] = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        events = resource.get("Properties", {}).get("Events", {}) or {}
        for event in events.values():
            if event.get("Type") != "Api":
                continue
            props = event.get("Properties", {})
            api_ref = props.get("RestApiId")
            api_name = api_ref.get("Ref") if isinstance(api_ref, dict) else api_ref
            required = api_defaults.get(str(api_name), default_required)
            auth = props.get("Auth", {}) or {}
            if "ApiKeyRequired" in auth:
                required = bool(auth["ApiKeyRequired"])
            method = str(props.get("Method", "ANY")).upper()
            routes.append(Route(method, str(props["Path"]), name, required))
    return sort_routes(routes)


def sort_routes(routes: Iterable[Route]) -> list[Route]:
    """Literal segments before parameters, as API Gateway prefers them."""

    def specificity(route: Route) -> tuple[int, int, int]:
        segments = route.resource.strip("/").split("/")
        literal = sum(1 for s in segments if not s.startswith("{"))
        greedy = sum(1 for s in segments if s.endswith("+}"))
        return (greedy, -len(segments), -literal)

    return sorted(routes, key=specificity)


def build_proxy_event(
    *,
    method: str,
    raw_path: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    route: Route,
    path_parameters: Mapping[str, str],
    identity: ApiKeyIdentity | None,
    stage: str,
    source_ip: str = "127.0.0.1",
    host: str = "127.0.0.1:3000",
) -> ProxyEvent:
    """The REST API proxy event API Gateway sends to a Lambda function for this request."""
    parsed = urlsplit(raw_path)
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)

    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in pairs:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)

    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(parsed.query, keep_blank_values=True):
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)

    content_type = next((v for k, v in pairs if k.lower() == "content-type"), "")
    is_text = not body or any(content_type.startswith(t) for t in TEXT_TYPES) or not content_type
    encoded = False
    body_text: str | None = None
    if body:
        if is_text:
            try:
                body_text = body.decode("utf-8")
            except UnicodeDecodeError:
                is_text = False
        if not is_text:
            body_text = base64.b64encode(body).decode("ascii")
            encoded = True

    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource,
        "path": parsed.path,
        "httpMethod": method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": f"local-{abs(hash(route.resource)) % 10**6:06d}",
            "resourcePath": route.resource,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "path": f"/{stage}{parsed.path}",
            "accountId": LOCAL_ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": host.split(":")[0],
            "domainName": host,
            "requestId": request_id,
            "apiId": "local",
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": single_headers.get("User-Agent") or single_headers.get("user-agent"),
                "user": None,
                "apiKey": identity.value if identity else None,
                "apiKeyId": identity.key_id if identity else None,
            },
        },
        "body": body_text,
        "isBase64Encoded": encoded,
    }


def gateway_error(status: int, message: str) -> ProxyResult:
    """An answer API Gateway itself gives, before any function runs."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "x-amzn-ErrorType": message},
        "body": json.dumps({"message": message}),
    }


# Limitation: the usage plan's throttling and quota are not enforced locally; only the key is.
@dataclass
class LocalApi:
    """Routes, key check and invocation: everything but the socket, so tests can call it direct.

    `invoke(function_logical_id, event)` runs the function and returns its proxy result;
    `local_routes` maps extra routes to callables taking the event (local-only conveniences).
    """

    routes: list[Route]
    invoke: Invoke
    keys: Callable[[str], ApiKeyIdentity | None]
    stage: str = "local"
    local_routes: dict[Route, Callable[[ProxyEvent, ApiKeyIdentity | None], ProxyResult]] = field(
        default_factory=dict
    )

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        host: str = "127.0.0.1:3000",
    ) -> ProxyResult:
        """Serve one request as API Gateway would; never raises."""
        path = urlsplit(raw_path).path
        if len(body) > MAX_BODY_BYTES:
            return gateway_error(413, "Request Too Long")

        all_routes = list(self.local_routes) + self.routes
        route, params = self._match(all_routes, method, path)
        if route is None:
            return gateway_error(403, "Missing Authentication Token")

        identity: ApiKeyIdentity | None = None
        supplied = next((v for k, v in headers if k.lower() == "x-api-key"), None)
        if supplied:
            identity = self.keys(supplied)
        if route.api_key_required and identity is None:
            return gateway_error(403, "Forbidden")

        event = build_proxy_event(
            method=method,
            raw_path=raw_path,
            headers=headers,
            body=body,
            route=route,
            path_parameters=params,
            identity=identity,
            stage=self.stage,
            host=host,
        )
        started = time.perf_counter()
        try:
            local = self.local_routes.get(route)
            result = local(event, identity) if local else self.invoke(route.function, event)
        except Exception as exc:
            # The function crashed: API Gateway answers 502 and the body says nothing more.
            logger.error(
                "local api integration failed",
                extra={"resource": route.resource, "error": type(exc).__name__},
            )
            return gateway_error(502, "Internal server error")
        if not isinstance(result, dict) or "statusCode" not in result:
            return gateway_error(502, "Internal server error")
        logger.info(
            "local api request served",
            extra={
                "method": method,
                "resource": route.resource,
                "status": result.get("statusCode"),
                "request_id": event["requestContext"]["requestId"],
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return result

    @staticmethod
    def _match(routes: list[Route], method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None, {}


class _Handler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(gateway_error(413, "Request Too Long"), close=True)
            return
        body = self.rfile.read(length) if length else b""
        headers = [(k, v) for k, v in self.headers.items()]
        host = self.headers.get("Host") or self.server.url.removeprefix("http://")
        result = self.server.api.handle(self.command, self.path, headers, body, host)
        self._reply(result)

    def _reply(self, result: ProxyResult, close: bool = False) -> None:
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
        status = int(result.get("statusCode", 502))
        self.send_response(status, _reason(status))
        sent: set[str] = set()
        for name, value in (result.get("headers") or {}).items():
            self.send_header(name, str(value))
            sent.add(name.lower())
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if name.lower() in sent:
                continue
            for value in values:
                self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the stdlib access log: it would print query strings."""


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class LocalApiServer(ThreadingHTTPServer):
    """The socket side of `LocalApi`, one thread per connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: LocalApi, host: str = "127.0.0.1", port: int = 3000) -> None:
        super().__init__((host, port), _Handler)
        self.api = api
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalApiServer:
        """Serve in a background thread and return at once."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="local-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
