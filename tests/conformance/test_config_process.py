"""config.md "Process", "POSIX process" and "Linux Process": consoleSize,
cwd, args, rlimits, capabilities, oomScoreAdj, execCPUAffinity. Checked from
inside the container (/proc/self/*) and by the runtime's exit status."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.util import is_pyruntime
from tests.conftest import Runtime
from tests.integration.probes import (
    alive,
    cgroup_dirs,
    create,
    edit_config,
    mounts_mentioning,
    must,
    root_entries,
    wait_for,
)
from tests.support.config_fields import create_refused
from tests.support.isolation import (
    describe,
    proc_cgroups,
    run_ok,
    start_detached,
    v1_hierarchies,
)

MakeBundle = Callable[..., Path]


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def limits(out: str) -> dict[str, tuple[str, str]]:
    """/proc/self/limits -> {"Max open files": (soft, hard)}."""
    found: dict[str, tuple[str, str]] = {}
    for line in out.splitlines()[1:]:
        name = line[:26].strip()
        parts = line[26:].split()
        if len(parts) >= 2:
            found[name] = (parts[0], parts[1])
    return found


@pytest.mark.spec("config-process-1")
def test_process_required_at_start(rt: Runtime, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    """`process` is OPTIONAL: a config without it is created (status
    created, an init that holds the namespaces); it is REQUIRED when start is
    called: `start` is an error naming it, which leaves the container as it
    was (runtime-errors-1), and `delete` then leaves nothing."""
    marker = tmp_path / "bundle" / "rootfs" / "ran"
    bundle = make_bundle(["touch", "/ran"])
    edit_config(bundle, lambda cfg: cfg.pop("process"))
    before = mounts_mentioning(bundle)
    must(create(rt, bundle, cid))
    state = rt.state(cid)
    assert state["status"] == "created" and alive(state["pid"]), state
    s = rt("start", cid)
    assert s.returncode != 0, describe(s)
    assert "process" in s.stderr + s.stdout, describe(s)
    after = rt.state(cid)
    assert after["status"] == "created" and after["pid"] == state["pid"] and alive(state["pid"]), after
    assert not marker.exists()
    must(rt("delete", "--force", cid))
    wait_for(lambda: not alive(state["pid"]), what="the init to end")
    assert cid not in root_entries(rt) and cgroup_dirs(cid) == [] and mounts_mentioning(bundle) == before


@pytest.mark.spec("config-process-consolesize-1")
@pytest.mark.parametrize("terminal", [False, None])
def test_console_size_ignored_without_terminal(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                               terminal: bool | None) -> None:
    def size(cfg: dict[str, Any]) -> None:
        if terminal is None:
            cfg["process"].pop("terminal", None)
        else:
            cfg["process"]["terminal"] = terminal
        cfg["process"]["consoleSize"] = {"height": 7, "width": 33}

    out = run_ok(rt, make_bundle(sh("test -t 0 || test -t 1 || echo NO-TTY; stty size 2>/dev/null "
                                    "|| echo NO-SIZE"), mutate=size), cid)
    assert out.split() == ["NO-TTY", "NO-SIZE"], out


@pytest.mark.spec("config-process-cwd-1")
def test_cwd_absolute_is_set(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def cwd(cfg: dict[str, Any]) -> None:
        cfg["process"]["cwd"] = "/etc"

    assert run_ok(rt, make_bundle(["pwd"], mutate=cwd), cid).strip() == "/etc"


@pytest.mark.spec("config-process-cwd-1")
def test_cwd_relative_refused(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def cwd(cfg: dict[str, Any]) -> None:
        cfg["process"]["cwd"] = "etc"

    create_refused(rt, make_bundle(["pwd"], mutate=cwd), cid)


@pytest.mark.spec("config-process-args-1")
def test_args_empty_refused(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def empty(cfg: dict[str, Any]) -> None:
        cfg["process"]["args"] = []

    create_refused(rt, make_bundle(mutate=empty), cid)


@pytest.mark.spec("config-process-args-1")
def test_args_first_entry_is_execvp_file(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """args[0] without a slash is looked up in the PATH, as execvp's file."""
    def path(cfg: dict[str, Any]) -> None:
        cfg["process"]["env"] = ["PATH=/nowhere:/bin"]

    assert run_ok(rt, make_bundle(["echo", "found", "in", "path"], mutate=path), cid).split() == [
        "found", "in", "path"]


@pytest.mark.spec("config-process-rlimits-1")
def test_rlimit_unknown_type_refused(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def bad(cfg: dict[str, Any]) -> None:
        cfg["process"]["rlimits"].append({"type": "RLIMIT_NOT_A_LIMIT", "soft": 1, "hard": 1})

    create_refused(rt, make_bundle(["true"], mutate=bad), cid)


@pytest.mark.spec("config-process-rlimits-2", "config-process-rlimits-3", "config-process-rlimits-4")
def test_rlimits_soft_and_hard(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    # Below the host's current hard limits: raising one needs CAP_SYS_RESOURCE beyond them.
    import resource

    want = {"RLIMIT_NOFILE": (300, 700, "Max open files"),
            "RLIMIT_CORE": (4096, 8192, "Max core file size"),
            "RLIMIT_NPROC": (500, 900, "Max processes"),
            "RLIMIT_MSGQUEUE": (4096, 8192, "Max msgqueue size")}
    for name, (_soft, hard, _) in want.items():
        host_hard = resource.getrlimit(getattr(resource, name))[1]
        if host_hard != resource.RLIM_INFINITY and host_hard < hard:
            pytest.skip(f"the host's hard {name} is {host_hard}, below the test's {hard}")

    def set_limits(cfg: dict[str, Any]) -> None:
        cfg["process"]["rlimits"] = [{"type": t, "soft": s, "hard": h} for t, (s, h, _) in want.items()]

    got = limits(run_ok(rt, make_bundle(["cat", "/proc/self/limits"], mutate=set_limits), cid))
    for name, (soft, hard, label) in want.items():
        assert got[label] == (str(soft), str(hard)), (name, got[label])


@pytest.mark.spec("config-process-rlimits-5")
def test_rlimit_duplicates_refused(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def dup(cfg: dict[str, Any]) -> None:
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
                                     {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}]

    create_refused(rt, make_bundle(["true"], mutate=dup), cid)


@pytest.mark.spec("config-valid-1")
@pytest.mark.parametrize("where", ["bounding", "ambient"])
def test_a_name_that_is_not_a_capability_is_refused(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                    where: str) -> None:
    """"Valid values are defined in the capabilities(7) man page": CAP_TEST
    is none (the kernel here knows every capability the man page lists), so
    the config is invalid: an error naming the entry, nothing left."""
    def caps(cfg: dict[str, Any]) -> None:
        cfg["process"]["capabilities"][where].append("CAP_TEST")

    bundle = make_bundle(["true"], mutate=caps)
    index = len(json.loads((bundle / "config.json").read_text())["process"]["capabilities"][where]) - 1
    msg = create_refused(rt, bundle, cid)
    assert f"process.capabilities.{where}[{index}]" in msg and "CAP_TEST" in msg, msg


@pytest.mark.spec("config-process-caps-1", "config-process-caps-2")
def test_a_capability_that_cannot_be_granted_is_a_warning(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                          tmp_path: Path) -> None:
    """A runtime in a restricted environment (here: its bounding set lacks
    CAP_SYS_MODULE, as setpriv leaves it) asked for CAP_SYS_MODULE: it cannot
    grant it, so a warning naming it, and the container runs without it."""
    def caps(cfg: dict[str, Any]) -> None:
        for s in ("bounding", "effective", "permitted"):
            cfg["process"]["capabilities"][s].append("CAP_SYS_MODULE")

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv is not installed (util-linux)")
    runlog = tmp_path / "runtime.log"
    bundle = make_bundle(sh("grep -E 'Cap(Eff|Bnd)' /proc/self/status"), mutate=caps)
    p = subprocess.run([setpriv, "--bounding-set=-sys_module", *rt.cmd("--log", str(runlog), "run",
                                                                        "--bundle", str(bundle), cid)],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, describe(p)
    got = {ln.split(":")[0]: int(ln.split()[1], 16) for ln in p.stdout.splitlines() if ln.startswith("Cap")}
    sys_module = 1 << 16
    assert set(got) == {"CapEff", "CapBnd"} and not any(v & sys_module for v in got.values()), p.stdout
    text = runlog.read_text() if runlog.exists() else ""
    assert "level=warning" in text and "CAP_SYS_MODULE" in text, text


@pytest.mark.spec("config-process-oom-1")
def test_oom_score_adj_set(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def oom(cfg: dict[str, Any]) -> None:
        cfg["process"]["oomScoreAdj"] = 123

    assert run_ok(rt, make_bundle(["cat", "/proc/self/oom_score_adj"], mutate=oom), cid).strip() == "123"


def _set_own_oom_score_adj() -> None:
    Path("/proc/self/oom_score_adj").write_text("77")


@pytest.mark.spec("config-process-oom-2")
def test_oom_score_adj_unset_is_unchanged(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """The runtime is started with oom_score_adj 77; a config without
    oomScoreAdj leaves the container's process at that value."""
    bundle = make_bundle(["cat", "/proc/self/oom_score_adj"])
    p = rt("run", "--bundle", str(bundle), cid, preexec_fn=_set_own_oom_score_adj)
    assert p.returncode == 0, describe(p)
    assert p.stdout.strip() == "77"


@pytest.mark.spec("config-process-execcpuaffinity-1")
def test_exec_cpu_affinity_final_omitted(request: pytest.FixtureRequest, rt: Runtime, cid: str,
                                         make_bundle: MakeBundle, tmp_path: Path) -> None:
    """`exec` with execCPUAffinity.initial only: after the move into the
    container's cgroup the affinity is what the kernel gives it there (on
    cgroup v1, the cpuset's CPUs), not `initial` applied again."""
    if os.cpu_count() is None or (os.cpu_count() or 0) < 2:
        pytest.skip("needs two CPUs to tell `initial` from the cgroup's CPUs")
    cpuset = v1_hierarchies().get("cpuset")
    if cpuset is None and not is_pyruntime(rt):
        pytest.skip("needs a cgroup v1 cpuset hierarchy")
    pid = start_detached(rt, make_bundle(["sleep", "30"]), cid)
    assert cpuset is not None
    cg_cpus = (cpuset / proc_cgroups(pid)["cpuset"].lstrip("/") / "cpuset.cpus").read_text().strip()
    if cg_cpus == "0":
        pytest.skip("the container's cpuset has only CPU 0")
    proc = tmp_path / "process.json"
    proc.write_text('{"args": ["grep", "Cpus_allowed_list", "/proc/self/status"], "cwd": "/", '
                    '"user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"], '
                    '"execCPUAffinity": {"initial": "0"}}')
    p = subprocess.run(rt.cmd("exec", "--process", str(proc), cid), capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, describe(p)
    # What the kernel makes of the move: before Linux 6.2 the cpuset's CPUs;
    # since 6.2 the cpuset keeps a mask the task asked for (user_cpus_ptr),
    # so `initial` itself. Either way no second sched_setaffinity happened:
    # a runtime that applied `initial` again would give "0" on old kernels.
    assert p.stdout.split() in (["Cpus_allowed_list:", cg_cpus], ["Cpus_allowed_list:", "0"]), p.stdout
