"""Running OCI hooks (runtime-spec "POSIX-platform Hooks").

Each hook gets the container state as JSON on stdin and runs in its own
process group, so that a timeout kills it together with its children (and
the descendants that left the group: kill_tree). Its
stdout and stderr are captured (the last 4 KiB) and go into the error when it
fails. Hooks of one kind run in the listed order; the first failure stops the
rest, except with `warn=True` (poststop: the spec wants a warning and the
remaining hooks run).

What runc 1.1.5 does, and pyruntime does too:
- `args` absent: argv is `[path]`; `env` absent: the environment of the
  process that runs the hook (the runtime's own for prestart, createRuntime,
  poststart, poststop; the container process's for createContainer and
  startContainer, which run in the container's init). `env` given: exactly it.
- the hook's cwd: the bundle for the hooks run by the runtime, the rootfs for
  createContainer, the process's cwd for startContainer (callers pass it).

A hook is done when its process exits, not when its output pipe closes: a
hook may leave a daemon behind that holds the pipe (runc waits for that pipe,
up to forever).

Hand-written fork/exec: the subprocess module costs ~17 ms to import and
cannot be imported after pivot_root, when startContainer hooks run.
"""

from __future__ import annotations

import _signal as signal  # not `signal`: it imports enum (~3 ms)
import errno
import os
import time

from pyruntime import faults, jsonfast, sigstate
from pyruntime.errors import PyruntimeError
from pyruntime.launch import placement

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    # track(pid) once a hook runs, track(None) once it is reaped: `create` and
    # `start` record the running hook in state.json, so that if they are
    # killed meanwhile, `delete` kills the hook too (kill_tree).
    Track = Callable[[int | None], None]

OUTPUT_KEPT = 4096  # bytes of a hook's output kept for its error message


def state_json(oci_version: str, cid: str, status: str, pid: int, bundle: str,
               annotations: dict[str, str] | None) -> str:
    """The state a hook reads on stdin. `pid` is left out when 0 (a stopped
    container: the spec requires it only for created and running; runc omits it)."""
    state: dict[str, Any] = {"ociVersion": oci_version, "id": cid, "status": status}
    if pid:
        state["pid"] = pid
    state["bundle"] = bundle
    state["annotations"] = annotations or {}
    return jsonfast.dumps(state)


def run_hooks(kind: str, hooks: list[dict[str, Any]], state: str, cwd: str | None,
              env: dict[str, str] | None = None, warn: bool = False, track: Track | None = None) -> None:
    """Run hooks.<kind> in order. env: the environment of a hook without
    `env` (None: ours). warn: log each failure and go on (poststop)."""
    for i, h in enumerate(hooks):
        try:
            run_hook(f"hooks.{kind}[{i}]", h, state, cwd, env, track)
        except PyruntimeError as e:
            if not warn:
                raise
            from pyruntime.log import log

            log.warning(e.msg)


def run_hook(field: str, hook: dict[str, Any], state: str, cwd: str | None,
             default_env: dict[str, str] | None = None, track: Track | None = None) -> None:
    path = hook["path"]
    args = hook.get("args") or [path]
    env = hook.get("env")
    timeout = hook.get("timeout")
    if env is not None:
        environ: Any = dict(e.split("=", 1) for e in env if "=" in e)
    else:
        environ = default_env if default_env is not None else os.environ
    placement.join_caller()  # served: the hook is born in the caller's cgroups, as from runc's process
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        try:
            os.setpgid(0, 0)
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            if cwd:
                os.chdir(cwd)
            sigstate.for_hook()  # as runc: nothing ignored, the caller's mask but UNBLOCKED
            os.execve(path, args, environ)
        except OSError as e:
            what = f"chdir {cwd}" if e.filename == cwd and cwd else f"exec {path}"
            os.write(2, f"{what}: {os.strerror(e.errno or 0)}".encode())
        finally:
            os._exit(127)
    try:
        os.setpgid(pid, pid)  # also here: a timeout may come before the child's own call
    except OSError:
        pass  # EACCES: it has exec'd already, after its own setpgid
    os.close(in_r)
    os.close(out_w)
    try:
        try:
            if track is not None:
                track(pid)
            faults.point("hooks.running")
            output, timed_out, status = _supervise(pid, in_w, out_r, state.encode(), timeout)
        except BaseException:
            kill_tree(pid)  # never leave a hook behind, whatever went wrong here
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            raise
        if track is not None:
            track(None)
    finally:
        for fd in (in_w, out_r):
            try:
                os.close(fd)
            except OSError:
                pass
    text = output.decode(errors="replace").strip()
    detail = f": {text}" if text else ""
    if timed_out:
        raise PyruntimeError(f"{field}: hook {path} ran past its timeout of {timeout}s "
                             f"(killed with its process group){detail}", field=field, path=path)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        raise PyruntimeError(f"{field}: hook {path} killed by signal {-code}{detail}",
                             field=field, path=path)
    if code != 0:
        raise PyruntimeError(f"{field}: hook {path} failed with exit status {code}{detail}",
                             field=field, path=path)


def _supervise(pid: int, in_w: int, out_r: int, data: bytes,
               timeout: float | None) -> tuple[bytes, bool, int]:
    """Feed stdin, collect output, wait for the hook's exit or its deadline
    (then SIGKILL its process group). Returns (output, timed_out, wait status)."""
    # Imported here: most containers have no hooks (~0.15 ms and ~30 KiB a
    # create); for the init's hooks, create imports it before the fork.
    from select import select

    deadline = None if not timeout else time.monotonic() + float(timeout)
    os.set_blocking(in_w, False)
    os.set_blocking(out_r, False)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # kernels before 5.3: poll for the exit
        pidfd = -1
    output = b""
    status: int | None = None
    timed_out = False
    writing = bool(data)
    if not writing:
        os.close(in_w)
    reading = True
    try:
        while status is None:
            rl = [out_r] if reading else []
            if pidfd >= 0:
                rl.append(pidfd)
            wl = [in_w] if writing else []
            wait = 0.05 if pidfd < 0 else None
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                wait = left if wait is None else min(wait, left)
            try:
                r, w, _ = select(rl, wl, [], wait)
            except InterruptedError:
                continue
            if w:
                try:
                    n = os.write(in_w, data)
                    data = data[n:]
                except BlockingIOError:
                    pass
                except OSError as e:  # EPIPE: the hook does not read its stdin
                    if e.errno != errno.EPIPE:
                        raise
                    data = b""
                if not data:
                    writing = False
                    os.close(in_w)
            if out_r in r:
                chunk = _read(out_r)
                if chunk is None:
                    reading = False  # EOF
                else:
                    output = (output + chunk)[-OUTPUT_KEPT:]
            wpid, st = os.waitpid(pid, os.WNOHANG)
            if wpid == pid:
                status = st
                break
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                kill_tree(pid)
                _, status = os.waitpid(pid, 0)
                break
    finally:
        if pidfd >= 0:
            os.close(pidfd)
        if writing:
            os.close(in_w)
    # What the hook wrote just before it exited (children holding the pipe
    # are not waited for).
    if reading:
        while True:
            chunk = _read(out_r)
            if not chunk:
                break
            output = (output + chunk)[-OUTPUT_KEPT:]
    if timed_out:
        _kill_group(pid)  # children that outlived the leader
    return output, timed_out, status


def _read(fd: int) -> bytes | None:
    """b"" when nothing is there now, None at EOF."""
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        return b""
    return chunk if chunk else None


def kill_tree(pid: int) -> None:
    """SIGKILL the hook, its process group, and its descendants that left
    the group (setsid, setpgid). Found through /proc before anything dies:
    a child whose parent exits is re-parented, out of reach. The group is
    stopped first so that it cannot fork while /proc is read."""
    try:
        os.killpg(pid, signal.SIGSTOP)
    except (ProcessLookupError, PermissionError):
        pass
    found = _descendants(pid)
    for p in found:
        try:
            os.kill(p, signal.SIGSTOP)
        except (ProcessLookupError, PermissionError):
            pass
    found |= _descendants(pid)  # forked by those outside the group before they stopped
    _kill_group(pid)
    for p in found:
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _descendants(root: int) -> set[int]:
    """Pids below root, from the parent pid in each /proc/<pid>/stat. Only
    when /proc is of our own pid namespace: createContainer hooks run in the
    container's, before pivot_root, with the host's /proc still mounted, whose
    numbers would name other processes (none found then; the container's
    pid namespace ends with its init, and takes the hook's children along)."""
    try:
        if int(os.readlink("/proc/self")) != os.getpid():
            return set()
    except (OSError, ValueError):
        return set()
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out: set[int] = set()
    todo = [root]
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
