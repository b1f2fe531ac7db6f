"""Exception types.

`SpeechoptError` is a user error (bad input, missing dependency, failed validation): the CLI prints its
message as one line and exits 1. Anything else is a bug in speechopt and keeps its traceback.
"""


class SpeechoptError(Exception):
    """A problem the user can fix; its message is shown as one line."""

    exit_code = 1


class BudgetExceeded(SpeechoptError):
    """A benchmark broke a CI budget."""

    exit_code = 3


class BackendUnavailable(SpeechoptError):
    """A backend's runtime or device is missing on this machine."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """`Type: first line of the message`, for one-line errors that wrap a third-party exception."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}"[:limit] if text else type(exc).__name__
