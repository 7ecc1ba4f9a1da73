"""pyruntime.hooks: the runner, with real /bin/sh hooks (no root needed)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from pyruntime.errors import PyruntimeError
from pyruntime.hooks import run_hook, run_hooks, state_json

STATE = state_json("1.2.1", "c1", "creating", 42, "/b", {"a": "b"})


def sh(script: str, **kw: object) -> dict[str, object]:
    return {"path": "/bin/sh", "args": ["sh", "-c", script], **kw}


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_state_json() -> None:
    assert json.loads(STATE) == {"ociVersion": "1.2.1", "id": "c1", "status": "creating", "pid": 42,
                                 "bundle": "/b", "annotations": {"a": "b"}}
    stopped = json.loads(state_json("1.2.1", "c1", "stopped", 0, "/b", None))
    assert "pid" not in stopped and stopped["annotations"] == {}


def test_stdin_cwd_env_args(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_hook("hooks.prestart[0]", {"path": "/bin/sh", "args": ["argv-zero", "-c",
             f'cat > {out}.stdin; pwd > {out}.cwd; tr "\\0" "\\n" < /proc/$$/environ > {out}.env; '
             f'tr "\\0" "\\n" < /proc/$$/cmdline > {out}.argv'], "env": ["A=1", "B=x=y"]},
             STATE, str(tmp_path))
    assert json.loads(Path(f"{out}.stdin").read_text()) == json.loads(STATE)
    assert Path(f"{out}.cwd").read_text().strip() == str(tmp_path)
    assert Path(f"{out}.env").read_text().split() == ["A=1", "B=x=y"]
    assert Path(f"{out}.argv").read_text().split("\n")[0] == "argv-zero"


def test_env_absent_inherits_or_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_UNIT_MARK", "ours")
    out = tmp_path / "env"
    hook = sh(f'cat /proc/self/environ | tr "\\0" "\\n" > {out}')
    run_hook("f", hook, STATE, None)
    assert "HOOK_UNIT_MARK=ours" in out.read_text().split("\n")
    run_hook("f", hook, STATE, None, {"ONLY": "given"})
    assert "HOOK_UNIT_MARK=ours" not in out.read_text() and "ONLY=given" in out.read_text()


def test_args_absent_argv0_is_path(tmp_path: Path) -> None:
    for name in ("true", "false"):
        (tmp_path / name).symlink_to("/bin/busybox")
    if not os.path.exists("/bin/busybox"):
        pytest.skip("no /bin/busybox")
    run_hook("f", {"path": str(tmp_path / "true")}, STATE, None)
    with pytest.raises(PyruntimeError, match="exit status 1"):
        run_hook("f", {"path": str(tmp_path / "false")}, STATE, None)


def test_failure_message_names_hook_path_status_output() -> None:
    with pytest.raises(PyruntimeError) as ei:
        run_hooks("createRuntime", [{"path": "/bin/true"}, sh("echo to-out; echo to-err >&2; exit 3")],
                  STATE, None)
    msg = ei.value.msg
    assert msg.startswith("hooks.createRuntime[1]: hook /bin/sh failed with exit status 3")
    assert "to-out" in msg and "to-err" in msg
    assert ei.value.field == "hooks.createRuntime[1]"


def test_killed_by_signal() -> None:
    with pytest.raises(PyruntimeError, match="killed by signal 9"):
        run_hook("f", sh("kill -9 $$"), STATE, None)


def test_exec_failure() -> None:
    with pytest.raises(PyruntimeError, match="exit status 127.*exec /no/such/hook: No such file"):
        run_hook("f", {"path": "/no/such/hook"}, STATE, None)


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    t0 = time.monotonic()
    with pytest.raises(PyruntimeError, match=r"hooks.prestart\[0\].*timeout of 1s"):
        run_hooks("prestart", [sh(f"sleep 100 & echo $! >> {pids}; sleep 100 & echo $! >> {pids}; wait",
                                  timeout=1)], STATE, None)
    assert time.monotonic() - t0 < 3
    sleeps = [int(x) for x in pids.read_text().split()]
    assert len(sleeps) == 2
    deadline = time.monotonic() + 3
    while any(alive(p) for p in sleeps) and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        assert not any(alive(p) for p in sleeps)
    finally:
        for p in sleeps:
            if alive(p):
                os.kill(p, signal.SIGKILL)


def test_done_when_the_hook_exits_not_at_pipe_eof(tmp_path: Path) -> None:
    bg = tmp_path / "bg"
    t0 = time.monotonic()
    run_hook("f", sh(f"sleep 30 & echo $! > {bg}"), STATE, None)
    pid = int(bg.read_text())
    try:
        assert time.monotonic() - t0 < 5
        assert alive(pid)  # left alone: a hook may start a helper
    finally:
        os.kill(pid, signal.SIGKILL)


def test_big_state_to_a_hook_that_does_not_read() -> None:
    big = state_json("1.2.1", "c1", "creating", 1, "/b", {"k": "x" * 300_000})
    run_hook("f", {"path": "/bin/true"}, big, None)
    with pytest.raises(PyruntimeError, match="timeout"):
        run_hook("f", sh("sleep 5", timeout=1), big, None)


def test_big_state_read_whole(tmp_path: Path) -> None:
    big = state_json("1.2.1", "c1", "creating", 1, "/b", {"k": "x" * 300_000})
    out = tmp_path / "in"
    run_hook("f", sh(f"cat > {out}"), big, None)
    assert out.read_text() == big


def test_warn_mode_runs_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    second = tmp_path / "second"
    run_hooks("poststop", [sh("echo bad; exit 2"), sh(f"touch {second}")], STATE, None, warn=True)
    assert second.exists()


def test_first_failure_stops_the_rest(tmp_path: Path) -> None:
    second = tmp_path / "second"
    with pytest.raises(PyruntimeError):
        run_hooks("prestart", [sh("exit 2"), sh(f"touch {second}")], STATE, None)
    assert not second.exists()


def test_output_is_bounded() -> None:
    with pytest.raises(PyruntimeError) as ei:
        run_hook("f", sh("head -c 200000 /dev/zero | tr '\\0' a; echo END; exit 1"), STATE, None)
    assert len(ei.value.msg) < 5000 and ei.value.msg.endswith("END")
