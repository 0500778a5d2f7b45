"""Failures the CLI reports itself, each with the exit status docker 20.10 uses for it."""

from __future__ import annotations


class CliError(Exception):
    """Printed as is to stderr; the command exits with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(CliError):
    """A flag the command does not know or cannot use (docker's FlagErrorFunc: status 125)."""

    def __init__(self, message: str, prog: str, code: int = 125) -> None:
        super().__init__(f"{message}\nSee '{prog} --help'.", code)


class Unreachable(CliError):
    """Nothing answers on the service's socket."""

    def __init__(self, socket_path: str, detail: str = "") -> None:
        text = (
            f"Cannot connect to the hatoba service at unix://{socket_path}. Is the service running?"
        )
        super().__init__(text + (f"\n{detail}" if detail else ""))


class Reported(CliError):
    """docker's reportError for `run` and `create`: `hatoba: <message>.` [+ help line]."""

    def __init__(self, message: str, prog: str, *, with_help: bool = True, code: int = 125) -> None:
        text = f"hatoba: {message.rstrip('.')}."
        if with_help:
            text += f"\nSee '{prog} --help'."
        super().__init__(text, code)
