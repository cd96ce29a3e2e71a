"""Local stand-in for Cognito: HS256 ID tokens signed with a local key.

The local gateway verifies them and hands their claims to the app exactly where API Gateway's Cognito
authorizer puts them (`requestContext.authorizer.claims`), so the app's claim-reading code is the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

LOCAL_ISSUER = "https://cognito-idp.local/ecrm-local"
_KEY = b"ecrm-local-cognito-stand-in-key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(email: str, sub: str | None = None, name: str | None = None, ttl_s: int = 3600) -> str:
    """A customer ID token for `email` (the `sub` is derived from the email unless given)."""
    now = int(time.time())
    claims = {
        "sub": sub or str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{email.lower()}")),
        "email": email,
        "email_verified": "true",
        "name": name or email.split("@")[0],
        "iss": LOCAL_ISSUER,
        "token_use": "id",
        "iat": now,
        "exp": now + ttl_s,
    }
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = _b64(hmac.new(_KEY, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def verify(token: str) -> dict[str, str] | None:
    """The claims (stringified, as API Gateway passes them) of a valid unexpired token, else None."""
    try:
        head, body, sig = token.split(".")
        expected = _b64(hmac.new(_KEY, f"{head}.{body}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(sig, expected):
            return None
        claims = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError):
        return None
    if claims.get("iss") != LOCAL_ISSUER or int(claims.get("exp", 0)) < time.time():
        return None
    return {k: str(v) for k, v in claims.items()}
