"""Errors of the API layer, each one a note that says what to fix.

APIError
├── InvalidObjectError   one object breaks the schema or a CEL rule
└── LoadError            a folder or file of objects could not be loaded
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: ``spec.container.port: must be at most 65535``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class APIError(Exception):
    """Base of the errors the API layer raises."""


class InvalidObjectError(APIError):
    """An object that the API server would refuse at admission."""

    def __init__(self, where: str, errors: list[FieldError]) -> None:
        self.where = where
        self.errors = errors
        super().__init__(f"{where}: " + "; ".join(str(error) for error in errors))


class LoadError(APIError):
    """Objects could not be loaded; every problem found is listed, not just the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
