"""One exception type for bad input, so every entry point fails with a message that names the culprit."""

from __future__ import annotations


class LiftrecError(ValueError):
    """Bad input or configuration: the message names the file, line, field or parameter at fault."""


class DataError(LiftrecError):
    """A raw or intermediate data file is malformed.

    Args:
        message: what is wrong and what was expected.
        path: the file at fault, when there is one.
        line: the 1-based line number in that file, when known.
        column: the column or field at fault, when known.
    """

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None, column: str | None = None
    ) -> None:
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.path, self.line, self.column = path, line, column


class ConfigError(LiftrecError):
    """A parameter is unknown, missing or out of range; the message names it by its dotted path."""
