"""Domain errors and their one translation to HTTP.

Services raise these; only this module knows about status codes. Every error body is
``{"detail": ..., "code": ...}`` where ``detail`` is what FastAPI would put there.
"""

from __future__ import annotations

from typing import Any, ClassVar


class BasisError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_detail: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: Any = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = self.default_detail if detail is None else detail
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.headers = headers
        self.extra = extra or {}
        super().__init__(str(self.detail))

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class BadRequest(BasisError):
    pass


class Unauthorized(BasisError):
    status_code = 401
    code = "not_authenticated"
    default_detail = "Not authenticated"

    def __init__(self, detail: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(BasisError):
    status_code = 403
    code = "forbidden"
    default_detail = "Not enough permissions"


class NotFound(BasisError):
    status_code = 404
    code = "not_found"
    default_detail = "Not found"


class Conflict(BasisError):
    status_code = 409
    code = "conflict"
    default_detail = "Conflict"


class Unprocessable(BasisError):
    """A value that parsed but cannot be accepted (422), e.g. a nonexistent local time."""

    status_code = 422
    code = "invalid_value"
    default_detail = "Invalid value"


class TooManyRequests(BasisError):
    status_code = 429
    code = "rate_limited"
    default_detail = "Too many requests"

    def __init__(self, detail: Any = None, *, retry_after: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, int(retry_after)))})
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(BasisError):
    status_code = 503
    code = "unavailable"
    default_detail = "Service unavailable"
