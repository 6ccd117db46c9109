"""Exceptions raised by the package.

- ``EngineError`` (a ``ValueError``): the engine refused the data or a parameter; the
  message names which (a row and column, a parameter and its range).
- ``ModelFormatError`` (an ``EngineError``): a file that is not a Pynomaly model, or one
  written by a newer version.
- ``NotFittedError``: a detector used before ``fit`` (scikit-learn's own class when
  scikit-learn is installed, so its tools recognise it).
- ``ApiError`` and its subclasses: the service answered with a problem (``client``).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ._engine import EngineError, ModelFormatError

try:
    from sklearn.exceptions import NotFittedError
except ImportError:  # pragma: no cover - exercised only without scikit-learn

    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """A detector used before ``fit``."""


class ApiError(Exception):
    """The service answered with an RFC 9457 problem: ``status``, ``title``, ``detail``
    and ``type`` as it sent them, and the whole ``problem`` document."""

    def __init__(self, status: int, title: str, detail: str, type_: str = "about:blank",
                 problem: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.problem = problem or {}


class BadRequest(ApiError):
    """400 or 422: the request's data or parameters were refused (``detail`` says which)."""


class Unauthorized(ApiError):
    """401: no API key, or one the service does not know."""


class Forbidden(ApiError):
    """403: the key may not do this."""


class NotFound(ApiError):
    """404: no such model, job or stream (or route)."""


class Conflict(ApiError):
    """409: the resource is not in a state that allows this (a job still running...)."""


class PayloadTooLarge(ApiError):
    """413: the body, or the work it asks for, is over the service's limits."""


class RateLimited(ApiError):
    """429: too many requests; ``retry_after`` is the seconds the service asked to wait."""

    retry_after: Optional[float] = None


class ServerError(ApiError):
    """5xx: the service failed or is unavailable; retrying later may succeed."""


STATUS_ERRORS = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
                 413: PayloadTooLarge, 422: BadRequest, 429: RateLimited}

__all__ = [
    "ApiError", "BadRequest", "Conflict", "EngineError", "Forbidden", "ModelFormatError",
    "NotFittedError", "NotFound", "PayloadTooLarge", "RateLimited", "ServerError",
    "STATUS_ERRORS", "Unauthorized",
]
