"""Every error as ``application/problem+json`` (RFC 9457) with a stable ``code``.

The table below is the one place where a code meets its HTTP status.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_CODE = {
    "unauthorized": 401,
    "forbidden": 403,
    "account_not_found": 404,
    "transfer_not_found": 404,
    "client_not_found": 404,
    "hold_not_found": 404,
    "batch_not_found": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "idempotency_key_in_progress": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "same_account": 422,
    "currency_mismatch": 422,
    "account_not_active": 422,
    "account_not_empty": 422,
    "insufficient_funds": 422,
    "balance_limit_exceeded": 422,
    "hold_expired": 422,
    "hold_not_active": 422,
    "capture_exceeds_remaining": 422,
    "idempotency_key_reused": 422,
    "internal_error": 500,
    "concurrency_conflict": 503,
    "service_unavailable": 503,
}

TITLES = {
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "account_not_found": "Account not found",
    "transfer_not_found": "Transfer not found",
    "client_not_found": "Client not found",
    "hold_not_found": "Hold not found",
    "batch_not_found": "Batch not found",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "request_timeout": "Request timeout",
    "idempotency_key_in_progress": "Idempotency key in progress",
    "payload_too_large": "Payload too large",
    "unsupported_media_type": "Unsupported media type",
    "validation_error": "Validation error",
    "same_account": "Same account",
    "currency_mismatch": "Currency mismatch",
    "account_not_active": "Account not active",
    "account_not_empty": "Account not empty",
    "insufficient_funds": "Insufficient funds",
    "balance_limit_exceeded": "Balance limit exceeded",
    "hold_expired": "Hold expired",
    "hold_not_active": "Hold not active",
    "capture_exceeds_remaining": "Capture exceeds remaining",
    "idempotency_key_reused": "Idempotency key reused",
    "internal_error": "Internal error",
    "concurrency_conflict": "Concurrency conflict",
    "service_unavailable": "Service unavailable",
}


def problem_body(code: str, detail: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The problem document of ``code``: a response's body, or a refused batch item's."""
    return {
        "type": f"https://banking.example/problems/{code.replace('_', '-')}",
        "title": TITLES[code],
        "status": STATUS_BY_CODE[code],
        "detail": detail,
        "code": code,
        **(extra or {}),
    }


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE
    code = "internal_error"  # set on each response by ``problem``


def problem(
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> ProblemResponse:
    body = problem_body(code, detail, extra)
    status = STATUS_BY_CODE[code]
    all_headers = dict(headers or {})
    if code == "unauthorized":
        all_headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        all_headers["Retry-After"] = "1"
    if code == "request_timeout":
        # The rest of the body may still be on its way: the connection cannot carry
        # another request, so the server closes it after this answer.
        all_headers["Connection"] = "close"
    response = ProblemResponse(body, status_code=status, headers=all_headers)
    response.code = code
    return response
