"""The hook's one error type: a message for the user, printed on stderr by
cli.py with exit status 1 (the runtime then fails `create` with it)."""

from __future__ import annotations


class HookError(Exception):
    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg

    def __str__(self) -> str:
        return self.msg
