"""The Plan carried out in the container, before pivot_root.

The hook runs in the runtime's namespaces (prestart / createRuntime) while
the container's init waits with its mounts done. It joins the container's
mount namespace (setns on /proc/<pid>/ns/mnt, as libnvidia-container does)
where, before pivot_root, the rootfs is mounted at its host path and the
host's own paths are all still visible, and there: opens every source,
creates the mount points it needs,
binds sources onto them through /proc/self/fd (bind, then a bind remount
with the flags: the only way to make a bind read-only), makes the links,
covers /proc/driver/nvidia, and runs ldconfig for the rootfs. Every step is
recorded and undone in reverse on any error (unmount, remove what it
created, restore what it replaced): a failed hook leaves the rootfs as it
was. On success the mount points (empty files and directories) stay in the
rootfs, as they do with NVIDIA's hook, and /etc/ld.so.cache is rewritten.

/proc/driver/nvidia (only when the container's /proc shows one, i.e. the
driver is loaded): a read-only tmpfs over it holding copies of `params`
(ModifyDeviceFiles: 1 turned to 0, so the driver never re-creates device
nodes in the container), `version` and `registry`, and the selected GPUs'
gpus/<bus id> directories bound from the host: the container sees only its
own GPUs there.

ldconfig: the host's (ldconfig.real when present, Ubuntu's ldconfig being a
wrapper script), run as `ldconfig -r <rootfs> -X <libdirs>`: it chroots into
the rootfs, reads its /etc/ld.so.conf and writes its /etc/ld.so.cache; -X
leaves every link alone (we made ours). It runs in a child with
no_new_privs, its own IPC and network namespaces and rlimits (CPU 10 s,
2 GiB, 64 files, 64 MiB written), since it reads the image's files as root.
"""

from __future__ import annotations

import os
import resource
import select
import stat
import sys
import time
from collections.abc import Callable

from hooks.nvidia.errors import HookError
from hooks.nvidia.plan import Bind, Link, Plan
from pyruntime import syscalls as sc
from pyruntime.rootfs.securejoin import secure_join, with_procfd
from pyruntime.state.procfs import parse_mountinfo_line

PROC_FILES = ("params", "version", "registry")
LDCONFIG_TIMEOUT = 30.0


def default_ldconfig() -> str:
    for p in ("/sbin/ldconfig.real", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        if os.path.exists(p):
            return p
    return "/sbin/ldconfig"


def _err(e: OSError, doing: str) -> HookError:
    return HookError(f"{doing}: {os.strerror(e.errno or 0)}")


class Injector:
    """Carries out a Plan in the mount namespace of `pid` for `rootfs`."""

    def __init__(self, plan: Plan, rootfs: str, pid: int, ldconfig: str | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.rootfs = rootfs
        self.pid = pid
        self.ldconfig = ldconfig or default_ldconfig()
        self.log = log or (lambda s: None)
        self.undo: list[Callable[[], None]] = []
        self.src_fds: dict[str, int] = {}

    # ------------------------------------------------------------ the whole

    def run(self, after: Callable[[], None] | None = None) -> bool:
        """Carry out the plan, then `after()` back in our own namespace (the
        device cgroup); an error in either undoes everything. False when
        the container already has the devices (a second run of the hook,
        e.g. Docker's --gpus hook after a hooks.d one): nothing is done."""
        try:
            own = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            try:
                target = os.open(f"/proc/{self.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                os.close(own)
                raise _err(e, f"/proc/{self.pid}/ns/mnt (the container's mount namespace)") from None
            try:
                with _Entered(own, target):
                    if not self._in_container():
                        return False
                try:
                    if after is not None:
                        after()
                except BaseException:
                    with _Entered(own, target):
                        self.rollback()
                    raise
                return True
            finally:
                os.close(own)
                os.close(target)
        finally:
            for fd in self.src_fds.values():
                os.close(fd)
            self.src_fds.clear()

    def rollback(self) -> None:
        for fn in reversed(self.undo):
            try:
                fn()
            except OSError as e:
                print(f"pyruntime-nvidia-hook: undo: {e}", file=sys.stderr)
        self.undo.clear()

    def _in_container(self) -> bool:
        if not os.path.isdir(self.rootfs):
            raise HookError(f"rootfs {self.rootfs}: not a directory in the container's mount namespace")
        if self._already_done():
            return False
        proc_files = self._open_sources()
        try:
            for b in self.plan.binds:
                self._bind(b)
            for link in self.plan.links:
                self._link(link)
            if self.plan.proc_source:
                self._cover_proc(proc_files)
            if self.plan.ldconfig_dirs:
                self._ldconfig()
        except BaseException:
            self.rollback()
            raise
        return True

    # ------------------------------------------------------------ sources

    def _open_sources(self) -> dict[str, bytes]:
        """O_PATH fds of every source, opened in the container's mount
        namespace (a bind mount's source must be a mount of the caller's
        namespace; before pivot_root the host's paths are all there);
        device nodes checked to be what discovery found."""
        try:
            for b in self.plan.binds:
                try:
                    fd = os.open(b.source, os.O_PATH | os.O_CLOEXEC)
                except OSError as e:
                    raise _err(e, b.source) from None
                self.src_fds[b.source] = fd
                if b.device is not None:
                    st = os.fstat(fd)
                    have = (os.major(st.st_rdev), os.minor(st.st_rdev))
                    if not stat.S_ISCHR(st.st_mode) or have != b.device:
                        raise HookError(f"{b.source}: not the character device {b.device[0]}:{b.device[1]}")
            files: dict[str, bytes] = {}
            if self.plan.proc_source:
                for name in PROC_FILES:
                    try:
                        with open(os.path.join(self.plan.proc_source, name), "rb") as f:
                            files[name] = f.read()
                    except FileNotFoundError:
                        continue
                    except OSError as e:
                        raise _err(e, os.path.join(self.plan.proc_source, name)) from None
                for busid in self.plan.proc_gpus:
                    src = os.path.join(self.plan.proc_source, "gpus", busid)
                    self.src_fds[src] = os.open(src, os.O_PATH | os.O_CLOEXEC)
            return files
        except BaseException:
            for fd in self.src_fds.values():
                os.close(fd)
            self.src_fds.clear()
            raise

    # ------------------------------------------------------------ steps

    def _already_done(self) -> bool:
        ctl = secure_join(self.rootfs, "/dev/nvidiactl")
        with open("/proc/self/mountinfo") as f:
            return any(parse_mountinfo_line(line)[1] == ctl for line in f if " - " in line)

    def _mkdirs(self, path: str, purpose: str = "") -> str:
        """Make every missing directory of `path` (in the container); return its host path."""
        cur = "/"
        for part in [p for p in path.split("/") if p]:
            cur = os.path.join(cur, part)
            host = secure_join(self.rootfs, cur)
            if not os.path.isdir(host):
                why = f" (for {purpose})" if purpose else ""
                if os.path.lexists(host):
                    raise HookError(f"{cur} in the rootfs{why}: exists and is not a directory")
                try:
                    os.mkdir(host, 0o755)
                except OSError as e:
                    raise _err(e, f"creating {cur} in the rootfs{why}") from None
                self.undo.append(_rmdir(host))
        return secure_join(self.rootfs, path)

    def _mountpoint(self, target: str, is_dir: bool) -> str:
        host = secure_join(self.rootfs, target)
        if os.path.lexists(host):
            if os.path.isdir(host) != is_dir:
                raise HookError(f"{target} in the rootfs: exists as a {'file' if is_dir else 'directory'}")
            return host
        parent = self._mkdirs(os.path.dirname(target), target)
        host = os.path.join(parent, os.path.basename(target))
        try:
            if is_dir:
                os.mkdir(host, 0o755)
                self.undo.append(lambda: os.rmdir(host))
            else:
                os.close(os.open(host, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                 0o644))
                self.undo.append(lambda: os.unlink(host))
        except OSError as e:
            raise _err(e, f"creating the mount point {target} in the rootfs") from None
        return host

    def _bind_fd(self, fd: int, host: str, flags: int, what: str) -> None:
        m = sc.sys()
        try:
            with_procfd(host, lambda p: m.mount(f"/proc/self/fd/{fd}", p, None, sc.MS_BIND))
        except OSError as e:
            raise _err(e, f"bind mount of {what} on {host}") from None
        self.undo.append(lambda: m.umount2(host, sc.MNT_DETACH))
        try:
            with_procfd(host, lambda p: m.mount(None, p, None, sc.MS_BIND | sc.MS_REMOUNT | flags))
        except OSError as e:
            raise _err(e, f"remount of {host} with flags {flags:#x}") from None

    def _bind(self, b: Bind) -> None:
        fd = self.src_fds[b.source]
        host = self._mountpoint(b.target, stat.S_ISDIR(os.fstat(fd).st_mode))
        self._bind_fd(fd, host, b.flags, b.source)
        self.log(f"bound {b.source} at {b.target}")

    def _link(self, link: Link) -> None:
        parent = self._mkdirs(os.path.dirname(link.path), link.path)
        host = os.path.join(parent, os.path.basename(link.path))
        if os.path.lexists(host):
            if not os.path.islink(host):
                self.log(f"warning: {link.path} in the rootfs is not a symlink: left as it is")
                return
            old = os.readlink(host)
            if old == link.target:
                return
            os.unlink(host)
            self.undo.append(lambda: os.symlink(old, host))
        try:
            os.symlink(link.target, host)
        except OSError as e:
            raise _err(e, f"creating the link {link.path} in the rootfs") from None
        self.undo.append(lambda: os.unlink(host))

    def _cover_proc(self, files: dict[str, bytes]) -> None:
        host = secure_join(self.rootfs, "/proc/driver/nvidia")
        if not os.path.isdir(host):
            self.log("no /proc/driver/nvidia in the container: nothing to cover")
            return
        m = sc.sys()
        try:
            m.mount("tmpfs", host, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=0555")
        except OSError as e:
            raise _err(e, f"mounting a tmpfs on {host}") from None
        self.undo.append(lambda: m.umount2(host, sc.MNT_DETACH))
        for name, data in files.items():
            if name == "params":
                data = data.replace(b"ModifyDeviceFiles: 1", b"ModifyDeviceFiles: 0")
            fd = os.open(os.path.join(host, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o444)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        if self.plan.proc_gpus:
            os.mkdir(os.path.join(host, "gpus"), 0o555)
            for busid in self.plan.proc_gpus:
                d = os.path.join(host, "gpus", busid)
                os.mkdir(d, 0o555)
                src = os.path.join(self.plan.proc_source or "", "gpus", busid)
                self._bind_fd(self.src_fds[src], d, sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
                              src)
        try:
            m.mount(None, host, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV
                    | sc.MS_NOEXEC)
        except OSError as e:
            raise _err(e, f"remounting {host} read-only") from None
        self.log("covered /proc/driver/nvidia")

    def _ldconfig(self) -> None:
        etc = self._mkdirs("/etc")
        cache = os.path.join(etc, "ld.so.cache")
        try:
            with open(cache, "rb") as f:
                saved: bytes | None = f.read()
        except FileNotFoundError:
            saved = None
        except OSError as e:
            raise _err(e, "reading the rootfs's /etc/ld.so.cache") from None

        def restore() -> None:
            if saved is None:
                if os.path.lexists(cache):
                    os.unlink(cache)
                return
            with open(cache, "wb") as f:
                f.write(saved)

        self.undo.append(restore)
        argv = [self.ldconfig, "-r", self.rootfs, "-X", *self.plan.ldconfig_dirs]
        status, output = run_confined(argv, LDCONFIG_TIMEOUT)
        tmp = cache + "~"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if status != 0:
            raise HookError(f"{' '.join(argv)} failed ({status}): {output.strip()[-2000:]}")
        self.log(f"ran {' '.join(argv)}")


def _rmdir(path: str) -> Callable[[], None]:
    return lambda: os.rmdir(path)


class _Entered:
    """`with _Entered(own, target):` runs the block in the mount namespace
    `target` (an fd) and always returns to `own`."""

    def __init__(self, own: int, target: int) -> None:
        self.own, self.target = own, target

    def __enter__(self) -> None:
        try:
            sc.sys().setns(self.target, sc.CLONE_NEWNS)
        except OSError as e:
            raise _err(e, "joining the container's mount namespace") from None

    def __exit__(self, *exc: object) -> None:
        sc.sys().setns(self.own, sc.CLONE_NEWNS)


def run_confined(argv: list[str], timeout: float) -> tuple[str | int, str]:
    """Run argv in a child with no_new_privs, own IPC and network
    namespaces and rlimits; (exit status or 'timed out'/'signal N', output)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            os.dup2(w, 1)
            os.dup2(w, 2)
            sc.sys().unshare(sc.CLONE_NEWIPC | sc.CLONE_NEWNET)
            for res, n in ((resource.RLIMIT_CPU, 10), (resource.RLIMIT_AS, 2 << 30),
                           (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_FSIZE, 64 << 20)):
                resource.setrlimit(res, (n, n))
            sc.sys().prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
            os.execve(argv[0], argv, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
        except BaseException as e:  # noqa: BLE001 - anything: report and exit
            os.write(2, f"{argv[0]}: {e}".encode())
        finally:
            os._exit(127)
    os.close(w)
    out = b""
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                timed_out = True
                os.kill(pid, 9)
                break
            chunk = os.read(r, 65536)
            if not chunk:
                break
            out = (out + chunk)[-8192:]
    finally:
        os.close(r)
        _, st = os.waitpid(pid, 0)
    if timed_out:
        return "timed out", out.decode(errors="replace")
    code = os.waitstatus_to_exitcode(st)
    return (code if code >= 0 else f"signal {-code}"), out.decode(errors="replace")
