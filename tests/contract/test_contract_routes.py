"""app.py's Chalice routes and the API function's `Api` events in template.yaml are the same set, and every
route's authoriser follows the rule: /admin/* is IAM, the customer's own data is Cognito, the rest is
explicit (no route falls back to the API's DefaultAuthorizer silently)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from .support import Route, chalice_function, chalice_routes, functions, resources

IAM = "AWS_IAM"
CUSTOMER = "CustomerAuthorizer"
NONE = "NONE"


def api_events() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(event name, path, METHOD, properties) of every Api event of the Chalice function."""
    fn = chalice_function()
    return [
        (
            name,
            str(ev["Properties"].get("Path")),
            str(ev["Properties"].get("Method", "")).upper(),
            ev["Properties"],
        )
        for name, ev in fn.events.items()
        if ev.get("Type") == "Api"
    ]


def required_authorizer(path: str, method: str) -> set[str]:
    """The authorisers the rule allows for a route."""
    if path.startswith("/admin/"):
        return {IAM}
    if path == "/me" or path.startswith("/me/"):
        return {CUSTOMER}
    if method == "GET" and (path == "/orders/{order_id}" or path.startswith("/orders/{order_id}/")):
        return {CUSTOMER}
    return {NONE, CUSTOMER}


def test_every_chalice_route_has_exactly_one_api_event() -> None:
    declared = Counter((path, method) for _, path, method, _ in api_events())
    problems = []
    for route in chalice_routes():
        n = declared[(route.path, route.method)]
        if n != 1:
            problems.append(f"{route}: {n} Api events on {chalice_function().logical_id} (want exactly 1)")
    assert not problems, "\n".join(problems)


def test_every_api_event_is_a_chalice_route() -> None:
    served = {(r.path, r.method) for r in chalice_routes()}
    stray = [
        f"{name}: {method} {path}" for name, path, method, _ in api_events() if (path, method) not in served
    ]
    assert not stray, (
        "Api events with no Chalice route in app.py (API Gateway would answer them with a "
        "Chalice 404/405):\n" + "\n".join(stray)
    )


def test_no_other_function_serves_the_chalice_api() -> None:
    api_ids = {str(props.get("RestApiId")) for *_, props in api_events()}
    others = [
        f"{f.logical_id}.{name}"
        for f in functions().values()
        if f is not chalice_function()
        for name, ev in f.events.items()
        if ev.get("Type") == "Api" and str((ev.get("Properties") or {}).get("RestApiId")) in api_ids
    ]
    assert not others, f"routes of the Chalice API handled by another function: {others}"


@pytest.mark.parametrize("route", chalice_routes(), ids=str)
def test_route_authorizer_follows_the_rule(route: Route) -> None:
    events = [
        (name, props)
        for name, path, method, props in api_events()
        if (path, method) == (route.path, route.method)
    ]
    if not events:
        pytest.fail(f"{route} has no Api event (see test_every_chalice_route_has_exactly_one_api_event)")
    allowed = required_authorizer(route.path, route.method)
    for name, props in events:
        auth = props.get("Auth") or {}
        assert "Authorizer" in auth, (
            f"{route}: event {name} has no explicit Auth.Authorizer; it would silently get the API's "
            f"DefaultAuthorizer. Say Authorizer: {' or '.join(sorted(allowed))}"
        )
        assert auth["Authorizer"] in allowed, (
            f"{route}: event {name} uses Authorizer {auth['Authorizer']}, "
            f"the rule requires one of {sorted(allowed)}"
        )


def test_customer_authorizer_is_the_cognito_user_pool() -> None:
    """Routes naming CustomerAuthorizer get the Cognito authoriser of the API they are attached to."""
    for name, _, _, props in api_events():
        if (props.get("Auth") or {}).get("Authorizer") != CUSTOMER:
            continue
        api_id = (props.get("RestApiId") or {}).get("Ref")
        api = resources("AWS::Serverless::Api").get(api_id)
        assert api, (
            f"{name}: RestApiId {props.get('RestApiId')} is not an AWS::Serverless::Api of the template"
        )
        authorizers = (api["Properties"].get("Auth") or {}).get("Authorizers") or {}
        assert "UserPoolArn" in authorizers.get(CUSTOMER, {}), (
            f"{api_id} defines no Cognito authoriser {CUSTOMER} (needed by {name})"
        )
