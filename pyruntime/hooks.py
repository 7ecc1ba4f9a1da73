"""Running OCI hooks (runtime-spec "POSIX-platform Hooks"): each gets the
container state as JSON on stdin, runs with cwd = bundle, in its own process
group so that a timeout kills it with its children. A failure carries the
hook's output in the error.

Hand-written fork/exec: the subprocess module costs ~17 ms to import and
cannot be imported after pivot_root, when startContainer hooks run.
"""

from __future__ import annotations

import _signal as signal  # not `signal`: it imports enum (~3 ms)
import os
import select
import time

from pyruntime.errors import PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run_hooks(kind: str, hooks: list[dict[str, Any]], state_json: str, cwd: str | None) -> None:
    for i, h in enumerate(hooks):
        run_hook(f"hooks.{kind}[{i}]", h, state_json, cwd)


def run_hook(field: str, hook: dict[str, Any], state_json: str, cwd: str | None) -> None:
    path = hook["path"]
    args = hook.get("args") or [path]
    env = hook.get("env")
    timeout = hook.get("timeout")
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            if cwd:
                os.chdir(cwd)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            if env is None:
                os.execv(path, args)
            os.execve(path, args, dict(e.split("=", 1) for e in env if "=" in e))
        except OSError as e:
            os.write(2, f"exec {path}: {os.strerror(e.errno or 0)}".encode())
        finally:
            os._exit(127)
    os.close(in_r)
    os.close(out_w)
    try:
        os.write(in_w, state_json.encode())
    except BrokenPipeError:
        pass
    os.close(in_w)
    deadline = None if not timeout else time.monotonic() + float(timeout)
    output = b""
    timed_out = False
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([out_r], [], [], wait)
        if not ready:
            timed_out = True
            break
        chunk = os.read(out_r, 65536)
        if not chunk:
            break
        output = (output + chunk)[-4096:]
    if timed_out:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.close(out_r)
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace").strip()
    if timed_out:
        raise PyruntimeError(f"{field}: hook {path} ran past its timeout of {timeout}s", field=field)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        detail = f": {text}" if text else ""
        raise PyruntimeError(f"{field}: hook {path} failed with exit status {code}{detail}", field=field)
