"""Reading the API's answers: the JSON body of a success, the :class:`ApiError` of the rest.

Shared by :class:`~observatory.Client` and :class:`~observatory.AsyncClient`, which only
differ in how they wait for an answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from observatory._errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    JobRejected,
    NotFound,
    RateLimited,
    RequestRefused,
    ServerUnavailable,
    Unauthorized,
    issues_of,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["body_of", "checked", "error_of", "unreachable"]

_REFUSALS: dict[int, type[RequestRefused]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: BadRequest,
    415: BadRequest,
}


def body_of(response: httpx.Response) -> dict[str, object]:
    """The answer's JSON object; ``{}`` when it is not one."""
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def error_of(response: httpx.Response, *, job: bool = False) -> ApiError:
    """The exception for an answer that is not a success (``job``: a 400 is a
    :class:`JobRejected`)."""
    body = body_of(response)
    status = response.status_code
    message = body.get("error")
    if not isinstance(message, str) or not message:
        message = (
            f"{response.request.method} {response.request.url} answered {status} "
            f"{response.reason_phrase}."
        )
    details = issues_of(body)
    if status == 429:
        try:
            retry_after_s = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            retry_after_s = 1.0
        return RateLimited(message, retry_after_s=retry_after_s, details=details, body=body)
    if job and status == 400:
        return JobRejected(message, status=status, details=details, body=body)
    if status in _REFUSALS:
        return _REFUSALS[status](message, status=status, details=details, body=body)
    if 400 <= status < 500:
        return RequestRefused(message, status=status, details=details, body=body)
    return ServerUnavailable(message, status=status, details=details, body=body)


def checked(response: httpx.Response, *, job: bool = False) -> dict[str, object]:
    """The JSON body of a 2xx answer; the matching :class:`ApiError` otherwise."""
    if not response.is_success:
        raise error_of(response, job=job)
    return body_of(response)


def unreachable(url: str, exc: httpx.TransportError) -> ServerUnavailable:
    """The error for a request that got no answer at all."""
    return ServerUnavailable(
        f"Cannot reach {url} ({type(exc).__name__}: {exc or 'no answer'}); is the "
        "observatory running there? Set GATEWAY_URL / READ_MODEL_URL to point elsewhere."
    )
