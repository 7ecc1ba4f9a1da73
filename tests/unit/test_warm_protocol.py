"""The warm server's pure parts: the request format _warm.c sends, the
rlimit comparison, and the identity a worker must share with its caller."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from pyruntime.launch import identity, protocol, server


def request(*fields: bytes) -> bytes:
    return b"".join(f + b"\0" for f in fields)


def test_a_request_is_umask_what_the_client_reports_args_and_environment() -> None:
    data = request(b"PYRTW2", b"22", b"0", b"-126", b"3", b"--root", b"/r", b"state", b"PATH=/bin", b"A=b=c")
    r = protocol.parse(data)
    assert r is not None
    assert (r.umask, r.reported, r.args, r.env) == (0o22, {"securebits": 0, "keyring": -126},
                                                    ["--root", "/r", "state"], ["PATH=/bin", "A=b=c"])


def test_arguments_need_not_be_utf8() -> None:
    r = protocol.parse(request(b"PYRTW2", b"77", b"0", b"5", b"1", b"\xff", b"X=\xfe"))
    assert r is not None
    assert (r.umask, os.fsencode(r.args[0]), os.fsencode(r.env[0])) == (0o77, b"\xff", b"X=\xfe")


def test_malformed_requests_are_refused() -> None:
    ok = (b"PYRTW2", b"22", b"0", b"5")
    bad = [b"", b"PYRTW2", request(b"PYRTW1", b"22", b"1", b"state"),  # the old format
           request(b"PYRTW2", b"9", b"0", b"5", b"1", b"state"),        # not octal
           request(b"PYRTW2", b"22", b"x", b"5", b"1", b"state"),       # securebits not a number
           request(b"PYRTW2", b"22", b"0", b"", b"1", b"state"),        # no keyring
           request(*ok, b"x", b"state"),                                # argc not a number
           request(*ok, b"0"),                                          # no command
           request(*ok, b"5", b"state"),                                # fewer args than argc
           request(*ok, b"1", b"state")[:-1]]                           # not NUL-terminated
    for data in bad:
        assert protocol.parse(data) is None, data


def test_a_higher_hard_limit_cannot_be_given_to_a_worker() -> None:
    inf = -1
    assert identity.higher(2048, 1024)
    assert identity.higher(inf, 1024)
    assert not identity.higher(1024, 1024)
    assert not identity.higher(512, 1024)
    assert not identity.higher(inf, inf)
    assert not identity.higher(1 << 40, inf)


class _Kernel:
    def ioprio_get(self, which: int, who: int) -> int:
        return 4

    def prctl(self, option: int, *args: int) -> int:
        assert option == identity.PR_GET_SECUREBITS
        return 0


def test_identity_of_self_is_our_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read from /proc (the I/O priority through the syscalls interface, faked here)."""
    import pyruntime.syscalls

    monkeypatch.setattr(pyruntime.syscalls, "sys", _Kernel)
    own = identity.identity("self")
    mine = {"securebits": 0, "keyring": own["session keyring"]}  # what our client would report
    assert own == identity.identity(os.getpid(), mine)
    assert identity.differs(own, identity.Process(os.getpid(), mine)) is None
    assert all(own["namespaces"]) and own["root directory"] is not None  # type: ignore[arg-type]


def test_a_check_that_differs_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyruntime.syscalls

    monkeypatch.setattr(pyruntime.syscalls, "sys", _Kernel)
    own = identity.identity("self")
    me = identity.Process(os.getpid(), {"securebits": 0, "keyring": own["session keyring"]})  # type: ignore[dict-item]
    assert identity.differs({**own, "personality": b"00400000\n"}, me) == "personality"
    # a server under a seccomp filter serves nobody (its own value is None)
    assert identity.differs({**own, "seccomp": None}, me) == "seccomp"
    # what the client reports: its securebits, its session keyring
    assert identity.differs(own, identity.Process(os.getpid(), {"securebits": 4, "keyring": 0})) == "securebits"
    other = identity.Process(os.getpid(), {"securebits": 0, "keyring": 12345})
    assert identity.differs(own, other) == "session keyring"
    assert identity.differs(own, identity.Process(os.getpid(), {})) == "securebits"  # nothing reported


def _takes(args: list[str], env: list[str] | None = None, sealed: bool = True) -> bool:
    fake = SimpleNamespace(sealed=sealed)  # takes() reads only this of the server
    return server.Server.takes(fake, args, env or ["PATH=/bin"])  # type: ignore[arg-type]


def test_the_server_checks_the_command_line_as_the_client_does() -> None:
    """_warm.c's servable(), again on the server's side."""
    assert _takes(["--root", "/r", "state", "c1"])
    assert _takes(["--root", "/r", "run", "--bundle", "b", "c1"])
    assert not _takes(["run", "--bundle", "b", "c1"], sealed=False)  # the container would not be sealed
    for flag in ("-d", "--detach", "--preserve-fds=1", "--preserve-fds", "--no-new-keyring", "-no-new-keyring"):
        assert not _takes(["run", flag, "--bundle", "b", "c1"]), flag
    assert not _takes(["run", "--bundle", "b", "c1"], env=["LISTEN_FDS=1"])
    # create, exec -d: never (what they leave must go to the caller's subreaper)
    assert not _takes(["create", "--bundle", "b", "c1"])
    assert _takes(["exec", "c1", "true"]) and not _takes(["exec", "c1", "true"], sealed=False)
    for flag in ("-d", "--detach", "--preserve-fds=1"):
        assert not _takes(["exec", flag, "c1", "true"]), flag
    # the command word is where the CLI finds it, not any argument
    assert not _takes(["ps", "run"]) and not _takes(["--log", "state", "list"])
    assert _takes(["--log", "x", "--debug", "state", "exec"])
    assert not _takes(["--version", "state", "c1"]) and not _takes(["--no-such-flag", "state", "c1"])


def test_the_c_header_is_the_table() -> None:
    """What setup.py compiles into the launcher and _warm (_commands.h)."""
    from pyruntime.launch import commands

    h = commands.header()
    assert 'SEALED_COMMANDS[] = {"create", "run", "exec", NULL};' in h
    assert 'SERVED_COMMANDS[] = {"state", "start", "kill", "delete", "run", "exec", NULL};' in h
    assert 'RELAYED_COMMANDS[] = {"run", "exec", NULL};' in h
    assert 'VALUE_FLAGS[] = {"root", "log", "log-format", "criu", "rootless", NULL};' in h
    assert 'SWITCH_FLAGS[] = {"debug", "systemd-cgroup", NULL};' in h
