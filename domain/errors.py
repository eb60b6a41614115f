"""Domain errors. Each carries the stable, machine-readable ``code`` of docs/api.md."""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """Base of every error the bank raises on purpose."""

    code: ClassVar[str] = "domain_error"
    default_detail: ClassVar[str] = "The request was refused."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        # Set when the error is the replay of an outcome stored under an idempotency key.
        self.replayed = False
        super().__init__(self.detail)


class ValidationError(DomainError):
    code = "validation_error"
    default_detail = "The request is invalid."


class UnauthorizedError(DomainError):
    code = "unauthorized"
    default_detail = "A valid API key is required."


class ClientNotFoundError(DomainError):
    """An admin route named an API client that does not exist."""

    code = "client_not_found"
    default_detail = "The API client does not exist."


class RuleViolationError(DomainError):
    """A business rule refused the request.

    These outcomes are final for a given request, so they are stored under an
    idempotency key and replayed, exactly like successes.
    """

    _by_code: ClassVar[dict[str, type[RuleViolationError]]] = {}
    # Set when the refusal is that of an atomic batch's item: its 0-based position.
    failed_index: int | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        RuleViolationError._by_code[cls.code] = cls

    @classmethod
    def from_code(
        cls, code: str, detail: str, failed_index: int | None = None
    ) -> RuleViolationError:
        refusal = cls._by_code[code](detail)
        refusal.failed_index = failed_index
        return refusal


class AccountNotFoundError(RuleViolationError):
    code = "account_not_found"
    default_detail = "The account does not exist."


class TransferNotFoundError(RuleViolationError):
    code = "transfer_not_found"
    default_detail = "The transfer does not exist."


class BatchNotFoundError(RuleViolationError):
    code = "batch_not_found"
    default_detail = "The batch does not exist."


class SameAccountError(RuleViolationError):
    code = "same_account"
    default_detail = "Source and destination must be different accounts."


class AccountNotActiveError(RuleViolationError):
    code = "account_not_active"
    default_detail = "An account of this transfer cannot send or receive money."


class CurrencyMismatchError(RuleViolationError):
    code = "currency_mismatch"
    default_detail = "The currency does not match an account of this transfer."


class InsufficientFundsError(RuleViolationError):
    code = "insufficient_funds"
    default_detail = "The amount exceeds what the account has available."


class BalanceLimitExceededError(RuleViolationError):
    code = "balance_limit_exceeded"
    default_detail = "The credit would take the balance beyond 10^18 minor units."


class AccountNotEmptyError(RuleViolationError):
    code = "account_not_empty"
    default_detail = "Only an account with a zero balance and nothing held can be closed."


class HoldNotFoundError(RuleViolationError):
    code = "hold_not_found"
    default_detail = "The hold does not exist."


class HoldExpiredError(RuleViolationError):
    code = "hold_expired"
    default_detail = "The hold has expired."


class HoldNotActiveError(RuleViolationError):
    code = "hold_not_active"
    default_detail = "The hold was already captured or voided."


class CaptureExceedsRemainingError(RuleViolationError):
    code = "capture_exceeds_remaining"
    default_detail = "The capture amount is greater than what remains of the hold."


class IdempotencyKeyReusedError(DomainError):
    code = "idempotency_key_reused"
    default_detail = "This idempotency key was already used with a different request."


class IdempotencyKeyInProgressError(DomainError):
    code = "idempotency_key_in_progress"
    default_detail = "A request with this idempotency key is still being processed."


class ConcurrencyConflictError(DomainError):
    code = "concurrency_conflict"
    default_detail = "The accounts are busy; retry the request."


class TransientConflictError(Exception):
    """A storage adapter aborted a transaction that may succeed if re-run from scratch.

    Raised for serialization failures and deadlocks; never reaches a client: the
    transaction runner re-runs the unit of work or turns it into
    ``ConcurrencyConflictError``.
    """


class IdempotencyKeyTakenError(Exception):
    """Another unit of work committed a record under the same idempotency key first."""
