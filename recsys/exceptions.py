"""Every error the library raises; each message names the object at fault and how to fix it."""


class RecsysError(Exception):
    """Base class of every error raised by recsys."""


class ValidationError(RecsysError, ValueError):
    """Input that breaks a rule: a bad row, field, parameter or request (HTTP 400)."""


class SchemaError(ValidationError):
    """An Avro schema, or a record, that does not follow Personalize's schema rules."""


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
