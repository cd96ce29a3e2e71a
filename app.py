"""The e-CRM HTTP API (Chalice): storefront and admin routes. Thin: parse -> call one service -> respond.

Authorisation happens in API Gateway (template.yaml): customer routes use the Cognito authorizer and read the
verified claims from the request context; admin routes use AWS_IAM. Nothing here trusts a customer id
from the body or the query string.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from chalice.app import Chalice, Request, Response

from ecrm.customers.identity import Customer, from_claims
from ecrm.platform import coldstart, jsonbody
from ecrm.platform.errors import AppError, BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from ecrm.platform.idempotency import set_lambda_context
from ecrm.platform.observability import logger, metrics, set_correlation_id

app = Chalice(app_name="ecrm")
app.log.setLevel("WARNING")  # Powertools Logger does the logging; Chalice's own logger stays quiet.

MAX_JSON_BODY = 64 * 1024
PROBLEM = "application/problem+json"
_CORRELATION = re.compile(r"[A-Za-z0-9._:-]{8,64}")


# ------------------------------------------------------------------ cross-cutting
@app.middleware("http")
def correlation(event: Request, get_response: Any) -> Response:
    """Correlation id on every log line and response; Chalice's own 4xx in problem+json too."""
    coldstart.finish()  # the container's first request ends its init phase (collector paused until now)
    ctx = event.context or {}
    header = (event.headers or {}).get("x-correlation-id", "")
    correlation_id = header if _CORRELATION.fullmatch(header or "") else ctx.get("requestId", "")
    set_correlation_id(correlation_id)
    set_lambda_context(event.lambda_context)
    response = get_response(event)
    if 400 <= response.status_code < 500 and response.headers.get("Content-Type") != PROBLEM:
        called = str(event.to_original_event().get("path") or event.path)  # the URL, not the route template
        response = _chalice_error_as_problem(response, called)
    response.headers["X-Correlation-Id"] = correlation_id
    metrics.flush_metrics()
    return response


def route(path: str, methods: list[str], **options: Any) -> Any:
    """`app.route` whose view answers AppError with RFC 9457 problem+json and never leaks a bare 500.

    Chalice turns exceptions into responses before middleware sees them, hence a decorator per view.
    """

    def decorate(view: Any) -> Any:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except AppError as err:
                if err.status >= 500:
                    logger.exception("server error")
                return _problem(err, _request_path())
            except Exception:
                logger.exception("unhandled error")
                return Response(
                    body=json.dumps(
                        {
                            "type": "about:blank",
                            "title": "Internal error",
                            "status": 500,
                            "detail": "something went wrong on our side; it has been logged",
                        }
                    ),
                    status_code=500,
                    headers={"Content-Type": PROBLEM},
                )

        return app.route(path, methods=methods, **options)(guarded)

    return decorate


def _request_path() -> str:
    # Chalice's `path` is the route template; the problem's `instance` is the URL the client called.
    return str(app.current_request.to_original_event().get("path") or app.current_request.path)


def _problem(err: AppError, path: str) -> Response:
    return Response(
        body=json.dumps(err.to_problem(instance=path), ensure_ascii=False),
        status_code=err.status,
        headers={"Content-Type": PROBLEM},
    )


_CHALICE_ERRORS: dict[int, tuple[str, str]] = {
    405: ("Method not allowed", "method-not-allowed"),
    415: ("Unsupported media type", "unsupported-media-type"),
}


def _chalice_error_as_problem(response: Response, path: str) -> Response:
    # Chalice's own 4xx (unknown content type, bad JSON it parsed) in the same problem shape as ours. Its
    # body is still the dict it will serialise ({"Code": ..., "Message": ...}) or, once serialised, JSON.
    doc: Any = response.body
    if isinstance(doc, (str, bytes)):
        try:
            doc = json.loads(doc)
        except ValueError:
            doc = {"Message": str(response.body)[:200]}
    detail = doc.get("Message") if isinstance(doc, dict) else None
    err = AppError(
        str(detail or "request rejected"), field="Content-Type" if response.status_code == 415 else None
    )
    err.status = response.status_code
    err.title, err.type_slug = _CHALICE_ERRORS.get(response.status_code, ("Bad request", "bad-request"))
    problem = _problem(err, path)
    # Keep what Chalice said besides the body: `Allow` on a 405, CORS headers.
    problem.headers = {**response.headers, **problem.headers}
    return problem


def body() -> Any:
    """The request's JSON body, with clear 4xx answers for everything that is not a JSON document."""
    request = app.current_request
    raw = request.raw_body or b""
    if len(raw) > MAX_JSON_BODY:
        raise PayloadTooLarge(f"body exceeds {MAX_JSON_BODY} bytes", field="body")
    ctype = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise UnsupportedMediaType("send application/json", field="Content-Type")
    if not raw:
        raise BadRequest("body is required", field="body")
    return jsonbody.parse(raw)


def customer() -> Customer:
    """The calling customer from the verified token claims."""
    return from_claims((app.current_request.context.get("authorizer") or {}).get("claims"))


def admin_actor() -> str:
    """Who made an admin call (the IAM principal API Gateway verified)."""
    identity = app.current_request.context.get("identity") or {}
    return str(identity.get("userArn") or identity.get("caller") or "iam")


def correlation_id() -> str:
    """This request's correlation id (carried into items and from there into stream and queue messages)."""
    return str(logger.get_correlation_id() or "")


def query_int(name: str, default: int) -> int:
    """An integer query parameter."""
    raw = (app.current_request.query_params or {}).get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,6}", raw):
        raise ValidationFailed("must be a positive integer", field=name)
    return int(raw)


def query_str(name: str) -> str | None:
    """A string query parameter (or None)."""
    return (app.current_request.query_params or {}).get(name)


# ------------------------------------------------------------------ orders
@route("/orders", methods=["POST"])
def place_guest_order() -> Response:
    """A guest places an order (members use POST /me/orders with their token)."""
    return _place_order(None)


@route("/me/orders", methods=["POST"])
def place_member_order() -> Response:
    """A signed-in member places an order."""
    return _place_order(customer())


def _place_order(member: Customer | None) -> Response:
    from ecrm.orders import api

    result, location = api.place(
        body(), member, app.current_request.headers.get("idempotency-key"), correlation_id()
    )
    return created(result, location)


def created(result: dict[str, Any], location: str) -> Response:
    """201 with a Location header."""
    return Response(
        body=json.dumps(result, ensure_ascii=False),
        status_code=201,
        headers={"Content-Type": "application/json", "Location": location},
    )


@route("/me/orders", methods=["GET"])
def my_orders() -> dict[str, Any]:
    """The member's orders, newest first, paged."""
    from ecrm.orders import service

    return service.list_for_customer(customer(), query_int("limit", 20), query_str("cursor"))


@route("/orders/{order_id}", methods=["GET"])
def get_order(order_id: str) -> dict[str, Any]:
    """One of the member's orders with its timeline."""
    from ecrm.orders import service

    return service.get_for_customer(order_id, customer())


@route("/track/{token}", methods=["GET"])
def track_order(token: str) -> dict[str, Any]:
    """Guest tracking through the signed link from the confirmation email."""
    from ecrm.orders import service

    return service.track(token)


@route("/admin/orders/{order_id}/status", methods=["POST"])
def change_order_status(order_id: str) -> dict[str, Any]:
    """Staff change an order's status (IAM-authorised)."""
    from ecrm.orders import service

    return service.admin_change_status(order_id, body(), admin_actor(), correlation_id())


@route("/admin/orders/{order_id}/returns", methods=["POST"])
def record_return(order_id: str) -> dict[str, Any]:
    """Staff record goods that came back (whole or part of an order; IAM-authorised)."""
    from ecrm.orders import returns

    return returns.record_return(order_id, body(), admin_actor(), correlation_id())


@route("/carrier-events", methods=["POST"])
def carrier_event() -> dict[str, Any]:
    """A carrier (or tracking aggregator) reports a checkpoint; HMAC-signed."""
    from ecrm.orders import carriers, service

    request = app.current_request
    raw = request.raw_body or b""
    if len(raw) > MAX_JSON_BODY:
        raise PayloadTooLarge(f"body exceeds {MAX_JSON_BODY} bytes", field="body")
    return service.carrier_event(
        raw, request.headers.get(carriers.SIGNATURE_HEADER.lower()), correlation_id()
    )


# ------------------------------------------------------------------ customer service mail
@route("/contact", methods=["POST"])
def contact() -> Response:
    """The contact form: becomes a case like an email, with the same automatic reply (rate limited)."""
    from ecrm.mail import contact as contact_form
    from ecrm.platform.errors import TooManyRequests

    request = app.current_request
    source_ip = str(((request.context or {}).get("identity") or {}).get("sourceIp") or "")
    try:
        result = contact_form.submit(body(), source_ip, correlation_id())
    except TooManyRequests as err:
        response = _problem(err, request.path)
        response.headers["Retry-After"] = str(err.extra.get("retry_after", 60))
        return response
    return Response(
        body=json.dumps(result), status_code=202, headers={"Content-Type": "application/json"}
    )


# Mail providers post `List-Unsubscribe=One-Click` as a form; the token is in the link's query string.
@route(
    "/unsubscribe",
    methods=["POST"],
    content_types=[
        "application/x-www-form-urlencoded", "multipart/form-data", "application/json", "text/plain"
    ],
)
def unsubscribe() -> dict[str, Any]:
    """RFC 8058 one-click unsubscribe (`List-Unsubscribe=One-Click` posted to the signed link)."""
    from ecrm.mail import unsubscribe as links

    return links.opt_out(query_str("token"), "one-click")


@route("/admin/faq/{faq_id}", methods=["PUT"])
def put_faq(faq_id: str) -> dict[str, Any]:
    """Staff create or replace an FAQ entry in one language (IAM-authorised)."""
    from ecrm.mail import faq_store

    return faq_store.put_entry(faq_id, body(), admin_actor())


@route("/admin/cases", methods=["GET"])
def list_cases() -> dict[str, Any]:
    """Cases waiting for staff (`?unanswered=1`), newest first, paged (IAM-authorised)."""
    from ecrm.mail import cases

    if query_str("unanswered") not in {"1", "true"}:
        raise ValidationFailed("only the unanswered list is served: pass unanswered=1", field="unanswered")
    return cases.list_unanswered(query_int("limit", 20), query_str("cursor"))


# ------------------------------------------------------------------ product configurator
@route("/products", methods=["GET"])
def list_products() -> dict[str, Any]:
    """The catalogue of configurable products on sale."""
    from ecrm.catalog import service as catalog

    return catalog.list_products(query_int("limit", 50))


@route("/products/{product_id}", methods=["GET"])
def get_product(product_id: str) -> dict[str, Any]:
    """A product model as a storefront renders it (current version)."""
    from ecrm.catalog import service as catalog

    return catalog.get_product(product_id)


@route("/products/{product_id}/configurations/validate", methods=["POST"])
def validate_configuration(product_id: str) -> dict[str, Any]:
    """Validate, price and explain a partial or full selection (every storefront click)."""
    from ecrm.catalog import service as catalog

    return catalog.validate(product_id, body())


@route("/products/{product_id}/configurations", methods=["POST"])
def save_configuration(product_id: str) -> Response:
    """Save a valid configuration: 201 the first time, 200 with the same id afterwards."""
    from ecrm.catalog import service as catalog

    result, is_new = catalog.save_configuration(product_id, body(), correlation_id())
    response = created(result, result["url"])
    response.status_code = 201 if is_new else 200
    return response


@route("/configurations/{configuration_id}", methods=["GET"])
def get_configuration(configuration_id: str) -> dict[str, Any]:
    """A shared configuration, re-priced on the version it was saved on."""
    from ecrm.catalog import service as catalog

    return catalog.get_configuration(configuration_id)


@route("/admin/products/{product_id}", methods=["PUT"])
def put_product(product_id: str) -> dict[str, Any]:
    """Staff publish a new version of a product model (IAM-authorised)."""
    from ecrm.catalog import service as catalog

    return catalog.put_product(product_id, body(), admin_actor())


@route("/admin/products/{product_id}/versions/{version}/retire", methods=["POST"])
def retire_product_version(product_id: str, version: str) -> dict[str, Any]:
    """Staff retire a product version (IAM-authorised)."""
    from ecrm.catalog import service as catalog

    return catalog.retire_version(product_id, version, admin_actor())


# ------------------------------------------------------------------ membership and loyalty
@route("/members", methods=["POST"])
def join_program() -> Response:
    """The signed-in customer joins the loyalty program (once; welcome bonus; consent recorded)."""
    from ecrm.loyalty import members

    raw = app.current_request.raw_body
    return created(members.join(customer(), body() if raw else None), "/me")


@route("/me", methods=["GET"])
def get_me() -> dict[str, Any]:
    """Profile, tier, balance, locked and expiring points, progress to the next tier."""
    from ecrm.loyalty import members

    return members.me(customer())


@route("/me", methods=["PATCH"])
def patch_me() -> dict[str, Any]:
    """Change name, marketing consent or birthday."""
    from ecrm.loyalty import members

    return members.patch_me(customer(), body())


@route("/me/points", methods=["GET"])
def my_points() -> dict[str, Any]:
    """The points ledger, newest first, paged."""
    from ecrm.loyalty import members

    return members.points(customer(), query_int("limit", 20), query_str("cursor"))


@route("/me/redemptions", methods=["POST"])
def redeem_points() -> Response:
    """Spend points on a reward (a discount code); Idempotency-Key makes a retry spend once."""
    from ecrm.loyalty import members

    result = members.redeem(customer(), body(), app.current_request.headers.get("idempotency-key"))
    return created(result, f"/me/redemptions/{result['redemption_id']}")


@route("/admin/members/{member_id}/adjustments", methods=["POST"])
def adjust_points(member_id: str) -> Response:
    """Staff add or deduct points with a reason (IAM-authorised); visible in the member's ledger."""
    from ecrm.loyalty import members

    result = members.adjust(member_id, body(), admin_actor())
    return created(result, f"/admin/members/{member_id}/adjustments/{result['adjustment_id']}")
