"""A fake kernel behind pyruntime.syscalls: records every call and can be
told to fail chosen ones with an errno, so feature modules run unprivileged."""

from __future__ import annotations

import os
from typing import Any


class Call:
    """One recorded syscall: its name and arguments."""

    __slots__ = ("name", "args")

    def __init__(self, name: str, args: tuple[Any, ...]) -> None:
        self.name = name
        self.args = args

    def __repr__(self) -> str:
        return f"Call({self.name!r}, {self.args!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Call):
            return (self.name, self.args) == (other.name, other.args)
        if isinstance(other, tuple):
            return (self.name, *self.args) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.name, self.args))


class _Failure:
    __slots__ = ("name", "errno", "target", "times")

    def __init__(self, name: str, errno: int, target: str | None, times: int | None) -> None:
        self.name = name
        self.errno = errno
        self.target = target
        self.times = times


class RecordingSyscalls:
    """Implements pyruntime.syscalls.Syscalls without touching the kernel.

    `calls` holds every attempted call in order (a failed one too).
    `fail("mount", errno.EPERM, target="/x")` makes the next matching call(s)
    raise OSError; `times=None` means every matching call fails."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._failures: list[_Failure] = []
        self.prctl_results: dict[int, int] = {}
        self.caps: tuple[int, int, int] = (0, 0, 0)

    # -- configuration -----------------------------------------------------------
    def fail(self, name: str, errno: int, *, target: str | None = None, times: int | None = 1) -> None:
        self._failures.append(_Failure(name, errno, target, times))

    def named(self, name: str) -> list[tuple[Any, ...]]:
        """Argument tuples of the recorded calls with this name."""
        return [c.args for c in self.calls if c.name == name]

    @property
    def mounts(self) -> list[tuple[Any, ...]]:
        return self.named("mount")

    def _record(self, name: str, target: str | None, *args: Any) -> None:
        self.calls.append(Call(name, args))
        for f in self._failures:
            if f.name != name or (f.target is not None and f.target != target):
                continue
            if f.times is not None:
                if f.times <= 0:
                    continue
                f.times -= 1
            raise OSError(f.errno, f"{name}: {os.strerror(f.errno)}", target)

    # -- the Syscalls protocol ---------------------------------------------------------
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        self._record("mount", target, source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int = 0) -> None:
        self._record("umount2", target, target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, new_root, put_old)

    def unshare(self, flags: int) -> None:
        self._record("unshare", None, flags)

    def setns(self, fd: int, nstype: int) -> None:
        self._record("setns", None, fd, nstype)

    def prctl(self, option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
        self._record("prctl", None, option, a2, a3, a4, a5)
        return self.prctl_results.get(option, 0)

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._record("capset", None, effective, permitted, inheritable)
        self.caps = (effective, permitted, inheritable)

    def capget(self, pid: int = 0) -> tuple[int, int, int]:
        self._record("capget", None, pid)
        return self.caps

    def sethostname(self, name: str) -> None:
        self._record("sethostname", None, name)

    def setdomainname(self, name: str) -> None:
        self._record("setdomainname", None, name)


class ForbiddenSyscalls(RecordingSyscalls):
    """Installed by default in unit tests: any syscall is a test bug."""

    def _record(self, name: str, target: str | None, *args: Any) -> None:
        raise AssertionError(f"unit test reached syscall {name}{args!r} without the fake_sys fixture")
