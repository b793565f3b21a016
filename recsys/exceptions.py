"""Every error class of recsys: the library's (`RecsysError` and its kinds), each message naming the object at
fault and how to fix it, then the HTTP API's wire-protocol errors."""


class RecsysError(Exception):
    """Base class of every error raised by recsys."""


class ValidationError(RecsysError, ValueError):
    """Input that breaks a rule: a bad row, field, parameter or request (HTTP 400)."""


class SchemaError(ValidationError):
    """An Avro schema, or a record, that does not follow Personalize's schema rules."""


class ImportFailed(ValidationError):
    """An import job that failed; `.job` is its `recsys.ingest.ImportJob` (status CREATE FAILED)."""

    def __init__(self, message: str, job=None):
        super().__init__(message)
        self.job = job


class NotFoundError(RecsysError, LookupError):
    """A named resource, user or item that does not exist (HTTP 404)."""


class UnknownIdError(NotFoundError):
    """A user or item id the model or data set has never seen."""


class ConflictError(RecsysError):
    """A resource that already exists, or one in the wrong state for the operation."""


class NotFittedError(RecsysError, ValueError, AttributeError):
    """A recipe used before `fit` was called."""


class TrainingError(RecsysError):
    """Training could not run, e.g. the data is below Personalize's minimums."""


class CancelledError(RecsysError):
    """Work stopped because the user cancelled it."""


class FilterSyntaxError(ValidationError):
    """A filter expression that does not parse; `str()` shows the expression with a caret at the fault."""

    def __init__(self, message: str, expression: str = "", position: int = 0):
        self.message = message
        self.expression = expression
        self.position = position
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if not self.expression:
            return self.message
        return f"{self.message} at position {self.position}:\n  {self.expression}\n  {' ' * self.position}^"


class EnvironmentProblem(RecsysError):
    """The machine, not the input, stopped the work: a full disk, a read-only or unwritable workspace, or damaged
    files (HTTP 503, or 500 for damaged files). One line that names `.path` and the fix; what was stored before
    is intact. `.kind` is one of the constants in `recsys.files` (DISK_FULL, READ_ONLY, NO_PERMISSION, ...)."""

    def __init__(self, message: str, *, path: str | None = None, kind: str = ""):
        super().__init__(message)
        self.path = path
        self.kind = kind


# -- errors of the HTTP API's wire protocol: answered with AWS's status and code, not raised by the library --


class ApiError(Exception):
    """An error answered in AWS's rest-json shape: HTTP `status`, AWS error `code` and `message`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class AuthError(Exception):
    """A request that is unsigned, wrongly signed, expired or signed by an unknown key (HTTP 403)."""

    status_code = 403

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidInput(Exception):
    """A request that breaks the wire contract; the API answers 400 InvalidInputException with this message."""
