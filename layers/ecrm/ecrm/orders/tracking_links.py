"""Guest order tracking links: an unguessable signed token, never the order number alone (pure).

Token layout (URL-safe, no padding, `.`-separated so it splits unambiguously from base64url):

    t1.<kid>.<base64url(order_id utf-8)>.<base64url(HMAC-SHA256(secret, DOMAIN + order_id))>

- `t1` is the format version: a later format can coexist with old links still sitting in inboxes.
- `kid` is a fingerprint of the secret (HMAC of a fixed label, 6 bytes), so rotation needs no extra config:
  sign with the new secret, keep the old one in the list passed to `read_token` until its links may lapse,
  then drop it (which revokes every link it signed). The fingerprint reveals nothing about the secret.
- The order id travels in clear: it is not a secret (it is on the confirmation email); the MAC is what
  grants access. Links do not expire on their own; revocation is by key rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable

from ecrm.platform.errors import NotFound

VERSION = "t1"
MIN_SECRET_BYTES = 16
MAX_ORDER_ID_CHARS = 128
_MAX_TOKEN_CHARS = 1024
# Domain separation: the same secret reused for another purpose can never mint a tracking token.
_MAC_DOMAIN = b"ecrm/order-tracking-link/v1\x00"
_KID_LABEL = b"ecrm/order-tracking-link/key-id"
_KID_BYTES = 6
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class InvalidToken(NotFound):
    """The tracking token is malformed, forged, or signed by a retired key (HTTP 404).

    One message for every cause: telling "bad signature" from "unknown key" would help only an attacker,
    and 404 does not confirm that the order exists.
    """

    def __init__(self) -> None:
        super().__init__("tracking link is invalid or no longer valid")


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise InvalidToken()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken() from None
    # Reject non-canonical encodings (stray low bits in the last char) so one token has one spelling.
    if _b64e(raw) != text:
        raise InvalidToken()
    return raw


def _check_secret(secret: bytes) -> bytes:
    if not isinstance(secret, bytes | bytearray) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"tracking-link secret must be at least {MIN_SECRET_BYTES} bytes")
    return bytes(secret)


def key_id(secret: bytes) -> str:
    """The public fingerprint of `secret` that prefixes its tokens (8 URL-safe characters)."""
    secret = _check_secret(secret)
    return _b64e(hmac.new(secret, _KID_LABEL, hashlib.sha256).digest()[:_KID_BYTES])


def _mac(secret: bytes, order_id_bytes: bytes) -> bytes:
    return hmac.new(secret, _MAC_DOMAIN + order_id_bytes, hashlib.sha256).digest()


def make_token(secret: bytes, order_id: str) -> str:
    """A URL-safe token that proves the bearer was given the link for `order_id`.

    Deterministic (same secret and id, same token), so re-sending an email yields the same link.
    """
    secret = _check_secret(secret)
    if not isinstance(order_id, str) or not 1 <= len(order_id) <= MAX_ORDER_ID_CHARS:
        raise ValueError(f"order_id must be a string of 1-{MAX_ORDER_ID_CHARS} characters")
    raw_id = order_id.encode("utf-8")
    return ".".join((VERSION, key_id(secret), _b64e(raw_id), _b64e(_mac(secret, raw_id))))


def _secrets(secret_or_secrets: bytes | Iterable[bytes]) -> list[bytes]:
    if isinstance(secret_or_secrets, bytes | bytearray):
        return [_check_secret(secret_or_secrets)]
    secrets = [_check_secret(s) for s in secret_or_secrets]
    if not secrets:
        raise ValueError("at least one tracking-link secret is required")
    return secrets


def read_token(secret_or_secrets: bytes | Iterable[bytes], token: str) -> str:
    """The order id a valid token was made for; raise `InvalidToken` otherwise.

    `secret_or_secrets` is the current secret, or every secret still honoured (newest first) during a
    rotation; the token's key id selects which one checks it. The MAC is compared in constant time.
    """
    secrets = _secrets(secret_or_secrets)
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        raise InvalidToken()
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        raise InvalidToken()
    _, kid, encoded_id, encoded_mac = parts
    raw_id = _b64d(encoded_id)
    presented = _b64d(encoded_mac)
    # The key id is public, so choosing the key by it leaks nothing; only the MAC check is secret-bearing.
    candidates = [s for s in secrets if key_id(s) == kid]
    if not any(hmac.compare_digest(_mac(s, raw_id), presented) for s in candidates):
        raise InvalidToken()
    try:
        order_id = raw_id.decode("utf-8")
    except UnicodeDecodeError:  # only reachable if something signed garbage; still not the caller's id
        raise InvalidToken() from None
    if not 1 <= len(order_id) <= MAX_ORDER_ID_CHARS:
        raise InvalidToken()
    return order_id
