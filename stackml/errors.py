"""The exceptions stackml raises.

Every error stackml raises on purpose derives from :class:`StackmlError`. Subclasses also
inherit the builtin that fits, so ``except KeyError`` keeps working for callers who expect it.

::

    StackmlError
    ├── NotFound(StackmlError, LookupError)         -> HTTP 404
    ├── AlreadyExists(StackmlError)                 -> HTTP 409
    ├── Conflict(StackmlError)                      -> HTTP 409
    ├── InvalidInput(StackmlError, ValueError)      -> HTTP 400
    │   └── PayloadTooLarge                         -> HTTP 413
    ├── Unauthorized(StackmlError)                  -> HTTP 401
    │   └── Forbidden                               -> HTTP 403
    ├── IntegrityError(StackmlError)                -> a blob whose content does not match its hash
    └── StoreUnavailable(StackmlError, ConnectionError) -> the database or server cannot be reached

Messages say what was wrong and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "IntegrityError",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "StackmlError",
    "StoreUnavailable",
    "Unauthorized",
]


class StackmlError(Exception):
    """Root of every error stackml raises on purpose."""

    #: HTTP status the server answers with for this error.
    http_status: int = 500


class NotFound(StackmlError, LookupError):
    """The named entity does not exist."""

    http_status = 404

    def __str__(self) -> str:  # LookupError/KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class AlreadyExists(StackmlError):
    """An entity with that name or id already exists."""

    http_status = 409


class Conflict(StackmlError):
    """The request conflicts with the current state (e.g. changing an immutable param)."""

    http_status = 409


class InvalidInput(StackmlError, ValueError):
    """A name, key, path, filter or value was malformed."""

    http_status = 400


class PayloadTooLarge(InvalidInput):
    """A request body exceeded the configured limit."""

    http_status = 413


class Unauthorized(StackmlError):
    """No valid credentials were given."""

    http_status = 401


class Forbidden(Unauthorized):
    """Valid credentials, but not allowed to do this."""

    http_status = 403


class IntegrityError(StackmlError):
    """Stored bytes do not match their content hash."""

    http_status = 500


class StoreUnavailable(StackmlError, ConnectionError):
    """The metadata database, blob store or server could not be reached."""

    http_status = 503
