"""The one exception type for bad input: it always names the file, the field and the value."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input. The message says where (file, field), what (value) and how to fix it."""

    def __init__(self, where: str, problem: str, fix: str | None = None):
        self.where, self.problem, self.fix = where, problem, fix
        super().__init__(f"{where}: {problem}" + (f". Fix: {fix}" if fix else ""))

    def __reduce__(self):  # raised in worker processes: pickle the three fields, not the message
        return (InputError, (self.where, self.problem, self.fix))
