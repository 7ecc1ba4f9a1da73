"""linux.seccomp (runtime-spec config-linux.md "Seccomp"): actions, errnoRet,
argument filters, allowlists, KILL, the default profiles of Docker and
Podman, and when the filter is loaded (runc's timing: before the
capabilities are dropped without noNewPrivileges, as the very last step
before execve with it). Every test also runs against runc
(RUNTIME=/usr/sbin/runc) with the same expected result.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.isolation import describe, run_ok

MakeBundle = Callable[..., Path]
DATA = Path(__file__).parent / "data" / "seccomp"
PODMAN_PROFILE = Path("/usr/share/containers/seccomp.json")  # Debian: golang-github-containers-common
SIGSYS_EXIT = 128 + 31

x86_64 = pytest.mark.skipif(platform.machine() != "x86_64", reason="probes and numbers are x86_64")

# x86_64 syscall numbers for the probe.
NR_SOCKET = 41
NR_GETPPID = 110
NR_PERSONALITY = 135
AF_UNIX, AF_INET = 1, 2
SOCK_STREAM, SOCK_DGRAM = 1, 2


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def with_seccomp(profile: dict[str, Any], **process: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["seccomp"] = profile
        c["process"].update(process)
    return mutate


def run(rt: Any, bundle: Path, cid: str) -> subprocess.CompletedProcess[str]:
    p: subprocess.CompletedProcess[str] = rt("run", "--bundle", str(bundle), cid, timeout=30)
    return p


def is_pyruntime(rt: Any) -> bool:
    return "runc" not in Path(rt.path).name


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sysprobe (raw syscalls, glibc static) and tiny (write + exit, no libc)."""
    if platform.machine() != "x86_64":
        pytest.skip("the probes are x86_64")
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("gcc is needed to build the probes")
    out = tmp_path_factory.mktemp("seccomp-probes")
    subprocess.run([cc, "-static", "-O1", "-o", str(out / "sysprobe"), str(DATA / "sysprobe.c")], check=True)
    subprocess.run([cc, "-static", "-nostdlib", "-O1", "-o", str(out / "tiny"), str(DATA / "tiny.c")],
                   check=True)
    return out


def install(probes: Path, bundle: Path, *names: str) -> None:
    for n in names:
        shutil.copy2(probes / n, bundle / "rootfs" / "bin" / n)


def probe_results(out: str) -> list[str]:
    """sysprobe lines "NR ok RET" / "NR errno N" -> ["ok", "errno N", ...]."""
    res = []
    for line in out.splitlines():
        nr, rest = line.split(" ", 1)
        res.append("ok" if rest.startswith("ok") else rest)
    return res


# ---------------------------------------------------------------- engine profiles (Docker, Podman)

def engine_profile(profile: dict[str, Any], caps: list[str], arch: str = "SCMP_ARCH_X86_64",
                   goarch: str = "amd64") -> dict[str, Any]:
    """A Docker/Podman engine profile (names, includes/excludes, archMap) turned
    into linux.seccomp the way the engines do it for a container with the
    bounding set `caps` (moby profiles/seccomp/seccomp_linux.go)."""
    kernel = tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])
    archs: list[str] = []
    for m in profile.get("archMap") or []:
        if m["architecture"] == arch:
            archs = [arch, *(m.get("subArchitectures") or [])]
    syscalls = []
    for s in profile["syscalls"]:
        inc, exc = s.get("includes") or {}, s.get("excludes") or {}
        if inc.get("arches") and goarch not in inc["arches"]:
            continue
        if exc.get("arches") and goarch in exc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= set(caps):
            continue
        if exc.get("caps") and set(exc["caps"]) & set(caps):
            continue
        if inc.get("minKernel") and kernel < tuple(int(x) for x in inc["minKernel"].split(".")[:2]):
            continue
        entry: dict[str, Any] = {"names": s.get("names") or [s["name"]], "action": s["action"],
                                 "args": s.get("args") or []}
        if s.get("errnoRet") is not None:
            entry["errnoRet"] = s["errnoRet"]
        syscalls.append(entry)
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"], "architectures": archs,
                           "syscalls": syscalls}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return out


def _profile_runs(rt: Any, cid: str, make_bundle: MakeBundle, source: dict[str, Any]) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["seccomp"] = engine_profile(source, c["process"]["capabilities"]["bounding"])

    b = make_bundle(sh("echo ok; ls /; id; mkdir /dev/shm/d && echo made"), mutate=mutate)
    out = run_ok(rt, b, cid)
    lines = out.splitlines()
    assert lines[0] == "ok"
    assert "bin" in lines and "proc" in lines
    assert any(line.startswith("uid=0(root) gid=0(root)") for line in lines)
    assert lines[-1] == "made"


def test_docker_default_profile(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _profile_runs(rt, cid, make_bundle, json.loads((DATA / "docker-default.json").read_text()))


def test_podman_default_profile(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    if not PODMAN_PROFILE.exists():
        pytest.skip(f"{PODMAN_PROFILE} missing: apt-get install golang-github-containers-common")
    _profile_runs(rt, cid, make_bundle, json.loads(PODMAN_PROFILE.read_text()))


@x86_64
def test_docker_profile_denies_what_it_does_not_list(rt: Any, cid: str, make_bundle: MakeBundle,
                                                     probes: Path) -> None:
    # personality(0x1234): not one of the allowed values -> defaultErrnoRet 1;
    # socket(AF_VSOCK=40) is denied by argument, AF_UNIX allowed.
    def mutate(c: dict[str, Any]) -> None:
        src = json.loads((DATA / "docker-default.json").read_text())
        c["linux"]["seccomp"] = engine_profile(src, c["process"]["capabilities"]["bounding"])

    b = make_bundle(["sysprobe", f"{NR_PERSONALITY}:0x1234", f"{NR_PERSONALITY}:0xffffffff",
                     f"{NR_SOCKET}:40:1:0", f"{NR_SOCKET}:{AF_UNIX}:{SOCK_STREAM}:0"], mutate=mutate)
    install(probes, b, "sysprobe")
    assert probe_results(run_ok(rt, b, cid)) == ["errno 1", "ok", "errno 1", "ok"]


# ---------------------------------------------------------------- actions and errnoRet

MKDIR_DENIED = {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}


def test_errno_ret_custom(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{**MKDIR_DENIED, "errnoRet": 38}]}
    b = make_bundle(sh("mkdir /dev/shm/x; echo rc=$?; ls /dev/shm"), mutate=with_seccomp(prof))
    p = run(rt, b, cid)
    assert p.returncode == 0, describe(p)
    assert "Function not implemented" in p.stderr
    assert p.stdout.strip() == "rc=1"


def test_errno_defaults_to_eperm(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [MKDIR_DENIED]}
    b = make_bundle(sh("mkdir /dev/shm/x; echo rc=$?"), mutate=with_seccomp(prof))
    p = run(rt, b, cid)
    assert p.returncode == 0, describe(p)
    assert "Operation not permitted" in p.stderr


def test_trace_without_a_tracer_is_enosys(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{**MKDIR_DENIED, "action": "SCMP_ACT_TRACE"}]}
    b = make_bundle(sh("mkdir /dev/shm/x; echo rc=$?"), mutate=with_seccomp(prof))
    p = run(rt, b, cid)
    assert p.returncode == 0, describe(p)
    assert "Function not implemented" in p.stderr


def test_log_allows(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{**MKDIR_DENIED, "action": "SCMP_ACT_LOG"}]}
    b = make_bundle(sh("mkdir /dev/shm/x && echo made"), mutate=with_seccomp(prof))
    assert run_ok(rt, b, cid).strip() == "made"


def test_flags(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    if not is_pyruntime(rt):
        pytest.skip("runc 1.1.5: 'seccomp flags are not yet supported by runc'")
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{**MKDIR_DENIED, "errnoRet": 38}],
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]}
    b = make_bundle(sh("mkdir /dev/shm/x; echo rc=$?"), mutate=with_seccomp(prof))
    p = run(rt, b, cid)
    assert p.returncode == 0 and p.stdout.strip() == "rc=1", describe(p)
    assert "Function not implemented" in p.stderr


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_TRAP"])
def test_kill_and_trap_end_the_process_with_sigsys(rt: Any, cid: str, make_bundle: MakeBundle,
                                                   action: str) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{**MKDIR_DENIED, "action": action}]}
    b = make_bundle(["mkdir", "/dev/shm/x"], mutate=with_seccomp(prof))
    p = run(rt, b, cid)
    assert p.returncode == SIGSYS_EXIT, describe(p)


def test_unknown_syscall_names_are_ignored(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["no_such_syscall_xyz", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 38}]}
    b = make_bundle(sh("mkdir /dev/shm/x; echo rc=$?"), mutate=with_seccomp(prof))
    p = run(rt, b, cid)
    assert p.returncode == 0 and p.stdout.strip() == "rc=1", describe(p)


# ---------------------------------------------------------------- argument filters

@x86_64
def test_socket_af_inet_denied_af_unix_allowed(rt: Any, cid: str, make_bundle: MakeBundle,
                                              probes: Path) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,  # EAFNOSUPPORT
         "args": [{"index": 0, "value": AF_INET, "op": "SCMP_CMP_EQ"}]}]}
    b = make_bundle(["sysprobe", f"{NR_SOCKET}:{AF_INET}:{SOCK_STREAM}:0", f"{NR_SOCKET}:{AF_UNIX}:{SOCK_STREAM}:0"],
                    mutate=with_seccomp(prof))
    install(probes, b, "sysprobe")
    assert probe_results(run_ok(rt, b, cid)) == ["errno 97", "ok"]


@x86_64
def test_args_on_two_indexes_are_and(rt: Any, cid: str, make_bundle: MakeBundle, probes: Path) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": AF_INET, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 0xF, "valueTwo": SOCK_DGRAM, "op": "SCMP_CMP_MASKED_EQ"}]}]}
    b = make_bundle(["sysprobe", f"{NR_SOCKET}:{AF_INET}:{SOCK_DGRAM | 0x80000}:0",  # | SOCK_CLOEXEC
                     f"{NR_SOCKET}:{AF_INET}:{SOCK_STREAM}:0", f"{NR_SOCKET}:{AF_UNIX}:{SOCK_DGRAM}:0"],
                    mutate=with_seccomp(prof))
    install(probes, b, "sysprobe")
    assert probe_results(run_ok(rt, b, cid)) == ["errno 1", "ok", "ok"]


@x86_64
def test_args_on_the_same_index_are_or(rt: Any, cid: str, make_bundle: MakeBundle, probes: Path) -> None:
    # runc's special case: two conditions on one argument become two rules.
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 0x20000, "op": "SCMP_CMP_EQ"}]}]}
    b = make_bundle(["sysprobe", f"{NR_PERSONALITY}:8", f"{NR_PERSONALITY}:0x20000",
                     f"{NR_PERSONALITY}:0xffffffff"], mutate=with_seccomp(prof))
    install(probes, b, "sysprobe")
    assert probe_results(run_ok(rt, b, cid)) == ["errno 22", "errno 22", "ok"]


@x86_64
@pytest.mark.parametrize("op, denied", [
    ("SCMP_CMP_NE", [9, 11]), ("SCMP_CMP_LT", [9]), ("SCMP_CMP_LE", [9, 10]), ("SCMP_CMP_EQ", [10]),
    ("SCMP_CMP_GE", [10, 11]), ("SCMP_CMP_GT", [11]),
])
def test_operators(rt: Any, cid: str, make_bundle: MakeBundle, probes: Path, op: str,
                   denied: list[int]) -> None:
    # getppid(2) ignores its argument; the filter still compares it.
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
         "args": [{"index": 0, "value": 10, "op": op}]}]}
    b = make_bundle(["sysprobe", *(f"{NR_GETPPID}:{v}" for v in (9, 10, 11))], mutate=with_seccomp(prof))
    install(probes, b, "sysprobe")
    assert probe_results(run_ok(rt, b, cid)) == ["errno 77" if v in denied else "ok" for v in (9, 10, 11)]


# ---------------------------------------------------------------- allowlists and load timing

BUSYBOX_SH_NEEDS = [
    "execve", "arch_prctl", "brk", "mmap", "munmap", "mprotect", "set_tid_address", "set_robust_list",
    "rseq", "prlimit64", "getrandom", "readlink", "uname", "getuid", "geteuid", "getgid", "getegid",
    "getpid", "getppid", "prctl", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "newfstatat",
    "fstat", "stat", "lstat", "ioctl", "read", "write", "writev", "open", "openat", "close", "fcntl",
    "dup2", "wait4", "clone", "fork", "vfork", "exit", "exit_group", "getcwd", "futex",
    # what runc's Go runtime needs after loading the filter
    "sigaltstack", "gettid", "tgkill", "nanosleep", "sched_yield", "madvise", "close_range",
    "getdents64", "epoll_pwait", "epoll_ctl", "epoll_create1", "pipe2", "dup3", "mincore",
    "sched_getaffinity", "clock_gettime", "fchdir", "capget", "capset", "fstatfs", "statfs",
    "readlinkat", "openat2", "getdents",
]


def test_default_errno_allowlist(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": BUSYBOX_SH_NEEDS, "action": "SCMP_ACT_ALLOW"}]}
    b = make_bundle(sh("echo ok; mkdir /dev/shm/x"), mutate=with_seccomp(prof))
    p = run(rt, b, cid)
    assert p.returncode == 1, describe(p)
    assert p.stdout == "ok\n"
    assert "Operation not permitted" in p.stderr


@x86_64
@pytest.mark.parametrize("default", ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS"])
def test_only_execve_write_exit_allowed(rt: Any, cid: str, make_bundle: MakeBundle, probes: Path,
                                        default: str) -> None:
    # With noNewPrivileges the filter is loaded as the very last step: the
    # runtime makes no syscall but execve after it.
    if not is_pyruntime(rt):
        pytest.skip("runc 1.1.5 deviates: it makes syscalls of its own after loading the filter "
                    "(fstatfs of /proc/self/fd, closing fds, Go's runtime), so its init fails to exec")
    prof = {"defaultAction": default, "syscalls": [{"names": ["execve", "write", "exit"],
                                                    "action": "SCMP_ACT_ALLOW"}]}
    b = make_bundle(["/bin/tiny"], mutate=with_seccomp(prof, noNewPrivileges=True))
    install(probes, b, "tiny")
    p = run(rt, b, cid)
    assert (p.returncode, p.stdout) == (0, "ok\n"), describe(p)


def test_without_no_new_privileges_loaded_before_caps_are_dropped(rt: Any, cid: str,
                                                                   make_bundle: MakeBundle) -> None:
    # Loading needs CAP_SYS_ADMIN without no_new_privs: the filter goes in
    # while the init still has every capability, then the user and the
    # (tiny) capability sets are applied under it.
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{**MKDIR_DENIED, "errnoRet": 38}]}
    b = make_bundle(sh("grep -E '^(Seccomp|NoNewPrivs|CapEff|Uid):' /proc/self/status; "
                       "mkdir /tmp/x 2>&1; true"),
                    mutate=with_seccomp(prof, noNewPrivileges=False, user={"uid": 65534, "gid": 65534}))
    out = run_ok(rt, b, cid)
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line and "mkdir" not in line)
    assert fields["Seccomp"].strip() == "2"
    assert fields["NoNewPrivs"].strip() == "0"
    assert fields["CapEff"].strip() == "0000000000000000"
    assert fields["Uid"].split()[0] == "65534"
    assert "Function not implemented" in out


def test_without_no_new_privileges_as_root(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{**MKDIR_DENIED, "errnoRet": 38}]}
    b = make_bundle(sh("mkdir /dev/shm/x; echo rc=$?"), mutate=with_seccomp(prof, noNewPrivileges=False))
    p = run(rt, b, cid)
    assert p.returncode == 0 and p.stdout.strip() == "rc=1", describe(p)
    assert "Function not implemented" in p.stderr


def test_exec_failure_under_the_filter(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [MKDIR_DENIED]}
    b = make_bundle(["/bin/sh"], mutate=with_seccomp(prof, noNewPrivileges=True))
    os.unlink(b / "rootfs" / "bin" / "sh")
    os.symlink("/nonexistent", b / "rootfs" / "bin" / "sh")
    p = run(rt, b, cid)
    assert p.returncode != 0


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("prof, field", [
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["a"], "action": "SCMP_ACT_ERRNO"}, {"names": ["b"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["c"], "action": "SCMP_ACT_ERRNO"}, {"names": ["mkdir"], "action": "SCMP_ACT_MAYBE"}]},
     "linux.seccomp.syscalls[3].action"),
    ({"defaultAction": "SCMP_ACT_NOPE"}, "linux.seccomp.defaultAction"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]},
     "linux.seccomp.syscalls[0].args[0].op"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]}, "linux.seccomp.architectures[0]"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}, "linux.seccomp.flags[0]"),
])
def test_unknown_names_are_refused(rt: Any, cid: str, make_bundle: MakeBundle, prof: dict[str, Any],
                                   field: str) -> None:
    b = make_bundle(["true"], mutate=with_seccomp(prof))
    p = run(rt, b, cid)
    assert p.returncode != 0, describe(p)
    if is_pyruntime(rt):
        assert field in p.stderr, describe(p)
    assert cid not in rt("list", "-q").stdout.split()


def test_features_report_seccomp(rt: Any) -> None:
    p = rt("features")
    assert p.returncode == 0, describe(p)
    sc = json.loads(p.stdout)["linux"]["seccomp"]
    assert sc["enabled"] is True
    assert {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_LOG"} <= set(sc["actions"])
    assert len(sc["operators"]) == 7
    if platform.machine() == "x86_64":
        assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"} <= set(sc["archs"])
    if is_pyruntime(rt):  # runc 1.1.5 does not list flags
        assert set(sc["supportedFlags"]) <= set(sc["knownFlags"])
        assert "SCMP_ACT_NOTIFY" in sc["actions"]  # test_seccomp_notify.py
        assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in sc["knownFlags"]
