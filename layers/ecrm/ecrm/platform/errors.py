"""Domain errors that carry their HTTP meaning, rendered as RFC 9457 problem+json at the edge."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error the caller can act on; never a 500."""

    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(self, detail: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 body; `errors` names the field at fault when there is one."""
        body: dict[str, Any] = {
            "type": f"https://ecrm.dev/problems/{self.type_slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.field is not None:
            # An empty key is a key too (`{"": 1}`): name it so a client can still see which one.
            body["errors"] = [{"field": self.field or '""', "detail": self.detail}]
        body.update(self.extra)
        return body


class BadRequest(AppError):
    status, title, type_slug = 400, "Bad request", "bad-request"


class ValidationFailed(AppError):
    status, title, type_slug = 422, "Validation failed", "validation-failed"


class Unauthorized(AppError):
    status, title, type_slug = 401, "Unauthorized", "unauthorized"


class Forbidden(AppError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFound(AppError):
    status, title, type_slug = 404, "Not found", "not-found"


class Conflict(AppError):
    status, title, type_slug = 409, "Conflict", "conflict"


class Gone(AppError):
    status, title, type_slug = 410, "Gone", "gone"


class PayloadTooLarge(AppError):
    status, title, type_slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(AppError):
    status, title, type_slug = 415, "Unsupported media type", "unsupported-media-type"


class TooManyRequests(AppError):
    status, title, type_slug = 429, "Too many requests", "too-many-requests"
