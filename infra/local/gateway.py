"""A local API Gateway: turns HTTP requests into REST-API proxy events for the Chalice app (`app.app`).

Routes and their authorizers come from the API function's events in template.yaml, so the local gateway
enforces what AWS would: Cognito routes need a valid (local) ID token, AWS_IAM routes a SigV4-signed request.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.local import tokens
from infra.local.stack import ACCOUNT, LocalFunction

log = logging.getLogger("ecrm.gateway")
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


class Route:
    """One method on one resource path, with its authorizer."""

    def __init__(self, path: str, method: str, authorizer: str) -> None:
        self.path, self.method, self.authorizer = path, method.upper(), authorizer
        pattern = re.sub(r"\\\{([A-Za-z0-9_]+)(?:\\\+)?\\\}", r"(?P<\1>[^/]+)", re.escape(path))
        self.regex = re.compile(f"^{pattern}$")


def routes_from_template(fn: LocalFunction) -> list[Route]:
    """The API events of the API function."""
    result = []
    for ev in fn.spec.events:
        if ev.type == "Api":
            auth = ev.properties.get("Auth", {}).get("Authorizer", "CustomerAuthorizer")
            result.append(Route(ev.properties["Path"], ev.properties["Method"], auth))
    return result


def _problem(status: int, title: str, detail: str) -> tuple[int, dict[str, str], bytes]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return status, {"Content-Type": "application/problem+json"}, json.dumps(body).encode()


class Gateway:
    """Dispatches requests to the app through real-shaped events; extra `/_local/*` routes drive the stack."""

    def __init__(self, api: LocalFunction, local_routes: dict[tuple[str, str], Any] | None = None) -> None:
        self.api = api
        self.routes = routes_from_template(api)
        self.local_routes = local_routes or {}

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes]:
        """One request -> (status, headers, body)."""
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        if (method, path) in self.local_routes:
            return self.local_routes[(method, path)](body, parse_qs(parts.query))
        if len(body) > MAX_BODY:
            return _problem(413, "Payload too large", "request body exceeds 10 MB")
        matches = [(r, m) for r in self.routes if (m := r.regex.match(path))]
        if not matches:
            return _problem(404, "Not found", f"no resource {path}")
        chosen = [(r, m) for r, m in matches if r.method == method]
        if not chosen:
            return _problem(405, "Method not allowed", f"{method} is not allowed on {path}")
        route, match = chosen[0]
        authorizer: dict[str, Any] = {}
        identity: dict[str, Any] = {"sourceIp": source_ip, "userAgent": headers.get("user-agent", "")}
        if route.authorizer == "CustomerAuthorizer":
            token = headers.get("authorization", "").removeprefix("Bearer ").strip()
            claims = tokens.verify(token) if token else None
            if claims is None:
                return 401, {"Content-Type": "application/json"}, b'{"message":"Unauthorized"}'
            authorizer = {"claims": claims}
        elif route.authorizer == "AWS_IAM":
            auth = headers.get("authorization", "")
            if not auth.startswith("AWS4-HMAC-SHA256 "):
                return (
                    403,
                    {"Content-Type": "application/json"},
                    b'{"message":"Missing Authentication Token"}',
                )
            access_key = re.search(r"Credential=([^/]+)/", auth)
            identity.update(
                {
                    "accessKey": access_key.group(1) if access_key else "",
                    "userArn": f"arn:aws:iam::{ACCOUNT}:user/local-admin",
                    "caller": "local-admin",
                }
            )
        event = self._event(
            method, path, parts.query, headers, body, route, match.groupdict(), authorizer, identity
        )
        result = self.api.invoke(event)
        out_headers = dict(result.get("headers") or {})
        if not any(k.lower() == "content-type" for k in out_headers):
            out_headers["Content-Type"] = "application/json"  # what API Gateway adds to a proxy response
        for k, vs in (result.get("multiValueHeaders") or {}).items():
            out_headers[k] = ", ".join(vs)
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        return int(result["statusCode"]), out_headers, data

    def _event(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        route: Route,
        params: dict[str, str],
        authorizer: dict[str, Any],
        identity: dict[str, Any],
    ) -> dict[str, Any]:
        mv_query = parse_qs(query, keep_blank_values=True)
        try:
            text, b64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, b64 = base64.b64encode(body).decode(), True
        request_id = str(uuid.uuid4())
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
            "queryStringParameters": {k: v[-1] for k, v in mv_query.items()} or None,
            "multiValueQueryStringParameters": mv_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/local{path}",
                "stage": "local",
                "requestId": request_id,
                "extendedRequestId": request_id,
                "accountId": ACCOUNT,
                "apiId": "local",
                "protocol": "HTTP/1.1",
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": identity,
                "authorizer": authorizer or None,
                "domainName": "127.0.0.1",
                "resourceId": "local",
            },
            "body": text if body else None,
            "isBase64Encoded": b64,
        }


def bind(host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """Bind the HTTP port first (the stack needs its public URL); `start` serves it once the app is ready."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _do(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                status, headers, data = _problem(413, "Payload too large", "request body exceeds 10 MB")
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                try:
                    gateway: Gateway = self.server.gateway  # type: ignore[attr-defined]
                    status, headers, data = gateway.handle(
                        self.command, self.path, hdrs, body, self.client_address[0]
                    )
                except Exception:
                    log.exception("gateway: unhandled error")
                    status, headers, data = _problem(502, "Bad gateway", "the function failed")
            self.send_response(status)
            for k, v in headers.items():
                if k.lower() not in {"content-length", "connection"}:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _do  # noqa: N815 - http.server naming

        def log_message(self, fmt: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), fmt % args)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # listen backlog: bursts of concurrent clients (load tests) are not reset

        def handle_error(self, request: Any, client_address: Any) -> None:
            # A client that hung up (or Ctrl-C while a response was being written) is not an error of ours.
            import sys

            if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                return
            super().handle_error(request, client_address)

    return Server((host, port), Handler)


def start(server: ThreadingHTTPServer, gateway: Gateway) -> None:
    """Serve `gateway` on the bound server from a background thread (stop with server.shutdown())."""
    server.gateway = gateway  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, name="gateway", daemon=True).start()
