"""Domain errors: one message and an optional hint, rendered by the CLI as Error:/Hint:."""

from __future__ import annotations


class XmodalError(Exception):
    """A failure the user can act on; `hint` says how."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(XmodalError):
    """Bad arguments that parsing could not catch (exit code 2)."""

    exit_code = 2
