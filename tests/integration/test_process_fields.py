"""Process fields beyond the basics (runtime-spec config.md "Process",
config-linux.md "Personality"): oomScoreAdj, scheduler, ioPriority,
user.umask, rlimits above the container's default, apparmorProfile and
selinuxLabel on a host with neither LSM, execCPUAffinity, personality.

additionalGids is covered in test_hostname_env_user.py.

runc 1.1.5 ignores scheduler, ioPriority, execCPUAffinity and personality
(they came with runc 1.2); those tests skip on it, and each has a control
test that sets the attribute with a busybox wrapper instead, which proves
the reading side on any runtime.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import remove_cgroups
from tests.support.config_fields import create_refused, skip_unless_supported
from tests.support.isolation import build_probe, describe, install_probe, run_ok, start_detached

MakeBundle = Callable[..., Path]
Mutate = Callable[[dict[str, Any]], None]

SCHED_OTHER, SCHED_BATCH, SCHED_IDLE = 0, 3, 5
IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE = 2, 3
PER_LINUX32 = 0x0008


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


@pytest.fixture
def leftovers(cid: str) -> Iterator[None]:
    """After the test, remove cgroup dirs a faulty runtime left for this id."""
    yield
    remove_cgroups(cid)


@pytest.fixture(scope="session")
def ioprio_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_probe("ioprio", tmp_path_factory.mktemp("probes"))


def set_process(**fields: Any) -> Mutate:
    def mutate(c: dict[str, Any]) -> None:
        c["process"].update(fields)
    return mutate


def stat_fields(out: str) -> list[str]:
    """`cat /proc/self/stat` output split into fields, 1-based as in proc(5):
    result[i] is field i (result[0] is unused)."""
    line = out.strip()
    head, _, tail = line.rpartition(")")
    pid, comm = head.split(" (", 1)
    return ["", pid, comm, *tail.split()]


def nice_and_policy(out: str) -> tuple[int, int]:
    f = stat_fields(out)
    return int(f[19]), int(f[41])  # proc(5): (19) nice, (41) policy


def ioprio_of(out: str) -> tuple[int, int]:
    m = re.fullmatch(r"class=(\d+) data=(\d+)", out.strip())
    assert m, out
    return int(m.group(1)), int(m.group(2))


# ---------------------------------------------------------------- oomScoreAdj

def test_oom_score_adj_applied(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(["cat", "/proc/self/oom_score_adj"], mutate=set_process(oomScoreAdj=500)),
                 cid)
    assert out.strip() == "500", out


def test_oom_score_adj_unset_is_inherited(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    mine = Path("/proc/self/oom_score_adj").read_text().strip()
    out = run_ok(rt, make_bundle(["cat", "/proc/self/oom_score_adj"]), cid)
    assert out.strip() == mine, out


def _can_lower_oom_score_adj_to(value: int) -> bool:
    p = subprocess.run(["sh", "-c", f"echo {value} > /proc/self/oom_score_adj"],
                       capture_output=True, timeout=10)
    return p.returncode == 0


@pytest.mark.usefixtures("leftovers")
@pytest.mark.parametrize("value", [-1000, 1001], ids=["below-allowed", "out-of-range"])
def test_oom_score_adj_refused(rt: Any, cid: str, make_bundle: MakeBundle, value: int) -> None:
    # runc 1.1.5: "nsexec[N]: failed to update /proc/self/oom_score_adj:
    # Permission denied" (EACCES without CAP_SYS_RESOURCE) / "Invalid argument"
    if value < 0 and _can_lower_oom_score_adj_to(value):
        pytest.skip("this host lets the caller lower oom_score_adj to -1000 (CAP_SYS_RESOURCE)")
    msg = create_refused(rt, make_bundle(["true"], mutate=set_process(oomScoreAdj=value)), cid)
    assert re.search(r"oom_?score_?adj", msg, re.I), msg


# ---------------------------------------------------------------- scheduler

def test_stat_reader_control(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # the /proc/self/stat parsing the scheduler tests rely on, on any runtime
    out = run_ok(rt, make_bundle(sh("renice 7 -p $$ >/dev/null; cat /proc/self/stat")), cid)
    assert nice_and_policy(out) == (7, SCHED_OTHER), out


def test_scheduler_batch_with_nice(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    skip_unless_supported(rt, "process.scheduler")
    mutate = set_process(scheduler={"policy": "SCHED_BATCH", "nice": 5})
    out = run_ok(rt, make_bundle(["cat", "/proc/self/stat"], mutate=mutate), cid)
    assert nice_and_policy(out) == (5, SCHED_BATCH), out


def test_scheduler_idle(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    skip_unless_supported(rt, "process.scheduler")
    mutate = set_process(scheduler={"policy": "SCHED_IDLE"})
    out = run_ok(rt, make_bundle(["cat", "/proc/self/stat"], mutate=mutate), cid)
    assert nice_and_policy(out)[1] == SCHED_IDLE, out


BAD_SCHEDULERS: dict[str, dict[str, Any]] = {
    "unknown-policy": {"policy": "SCHED_NOPE"},
    "no-policy": {"nice": 5},
    "priority-with-batch": {"policy": "SCHED_BATCH", "priority": 10},
    "nice-out-of-range": {"policy": "SCHED_OTHER", "nice": 20},
    "deadline-fields-with-other": {"policy": "SCHED_OTHER", "runtime": 1000000, "deadline": 2000000,
                                   "period": 3000000},
}


@pytest.mark.usefixtures("leftovers")
@pytest.mark.parametrize("case", list(BAD_SCHEDULERS))
def test_scheduler_invalid_refused(rt: Any, cid: str, make_bundle: MakeBundle, case: str) -> None:
    skip_unless_supported(rt, "process.scheduler")
    msg = create_refused(rt, make_bundle(["true"], mutate=set_process(scheduler=BAD_SCHEDULERS[case])), cid)
    assert re.search(r"sched", msg, re.I), msg


# ---------------------------------------------------------------- ioPriority

def test_ioprio_probe_control(rt: Any, cid: str, make_bundle: MakeBundle, ioprio_probe: Path) -> None:
    # the probe reads what busybox ionice set, on any runtime
    bundle = make_bundle(["ionice", "-c", "2", "-n", "6", f"/bin/{ioprio_probe.name}"])
    install_probe(ioprio_probe, bundle)
    assert ioprio_of(run_ok(rt, bundle, cid)) == (IOPRIO_CLASS_BE, 6)


@pytest.mark.parametrize("klass,priority,want", [
    ("IOPRIO_CLASS_BE", 4, (IOPRIO_CLASS_BE, 4)),
    ("IOPRIO_CLASS_IDLE", 0, (IOPRIO_CLASS_IDLE, 0)),
])
def test_io_priority_applied(rt: Any, cid: str, make_bundle: MakeBundle, ioprio_probe: Path,
                             klass: str, priority: int, want: tuple[int, int]) -> None:
    skip_unless_supported(rt, "process.ioPriority")
    mutate = set_process(ioPriority={"class": klass, "priority": priority})
    bundle = make_bundle([f"/bin/{ioprio_probe.name}"], mutate=mutate)
    install_probe(ioprio_probe, bundle)
    out = run_ok(rt, bundle, cid)
    assert ioprio_of(out) == want, out


@pytest.mark.usefixtures("leftovers")
@pytest.mark.parametrize("io_priority", [
    {"class": "IOPRIO_CLASS_NOPE", "priority": 0},
    {"class": "IOPRIO_CLASS_BE", "priority": 8},
], ids=["unknown-class", "priority-out-of-range"])
def test_io_priority_invalid_refused(rt: Any, cid: str, make_bundle: MakeBundle,
                                     io_priority: dict[str, Any]) -> None:
    skip_unless_supported(rt, "process.ioPriority")
    msg = create_refused(rt, make_bundle(["true"], mutate=set_process(ioPriority=io_priority)), cid)
    assert re.search(r"io_?prio", msg, re.I), msg


# ---------------------------------------------------------------- personality

needs_x86_64 = pytest.mark.skipif(platform.machine() != "x86_64",
                                  reason="LINUX32 shows as i686 only on an x86_64 host")


def set_personality(personality: dict[str, Any]) -> Mutate:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["personality"] = personality
    return mutate


@needs_x86_64
def test_personality_reader_control(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("linux32 sh -c 'uname -m; cat /proc/self/personality'")), cid)
    machine, persona = out.split()
    assert machine == "i686" and int(persona, 16) & 0xFF == PER_LINUX32, out


@needs_x86_64
def test_personality_linux32(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    skip_unless_supported(rt, "linux.personality")
    out = run_ok(rt, make_bundle(sh("uname -m; cat /proc/self/personality"),
                                 mutate=set_personality({"domain": "LINUX32"})), cid)
    machine, persona = out.split()
    assert machine == "i686", out
    assert int(persona, 16) & 0xFF == PER_LINUX32, out


@needs_x86_64
def test_personality_linux(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    skip_unless_supported(rt, "linux.personality")
    out = run_ok(rt, make_bundle(sh("uname -m; cat /proc/self/personality"),
                                 mutate=set_personality({"domain": "LINUX"})), cid)
    machine, persona = out.split()
    assert machine == "x86_64" and int(persona, 16) & 0xFF == 0, out


@needs_x86_64
def test_personality_flags_do_not_stop_the_domain(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # the spec defines no flag values yet; runc 1.2 warns and ignores them
    skip_unless_supported(rt, "linux.personality")
    mutate = set_personality({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]})
    out = run_ok(rt, make_bundle(sh("uname -m; cat /proc/self/personality"), mutate=mutate), cid)
    machine, persona = out.split()
    assert machine == "i686" and int(persona, 16) & 0xFF == PER_LINUX32, out


@pytest.mark.usefixtures("leftovers")
def test_personality_unknown_domain_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    skip_unless_supported(rt, "linux.personality")
    msg = create_refused(rt, make_bundle(["true"], mutate=set_personality({"domain": "LINUX64"})), cid)
    assert re.search(r"personality", msg, re.I), msg


# ---------------------------------------------------------------- umask

def test_umask_applied(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["user"]["umask"] = 0o027

    out = run_ok(rt, make_bundle(sh("umask; touch /dev/shm/f; stat -c %a /dev/shm/f"), mutate=mutate), cid)
    assert out.split() == ["0027", "640"], out


def test_umask_default_is_022_whatever_the_callers(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    """No umask in the config: the init gets 0022 from a caller with 0077
    (runc's init sets it, crun's too); an exec keeps its caller's (runc's)."""
    old = os.umask(0o077)  # the runtime's caller's, inherited by the runtime
    try:
        out = run_ok(rt, make_bundle(sh("umask; touch /dev/shm/f; stat -c %a /dev/shm/f")), cid)
        assert out.split() == ["0022", "644"], out
        name = f"{cid}-exec"
        pid = start_detached(rt, make_bundle(["sleep", "30"], name=name), name)
        assert pid > 0
        p = rt("exec", name, "sh", "-c", "umask", timeout=30)
        assert (p.returncode, p.stdout.split()) == (0, ["0077"]), describe(p)
    finally:
        os.umask(old)


# ---------------------------------------------------------------- rlimits

def test_rlimit_nofile_above_container_default(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # above the spec's 1024 but within the host's hard limit: raised
    _soft, host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if host_hard != resource.RLIM_INFINITY and host_hard < 4096:
        pytest.skip(f"host hard RLIMIT_NOFILE {host_hard} < 4096")
    mutate = set_process(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 4096}])
    out = run_ok(rt, make_bundle(sh("ulimit -n; ulimit -Hn"), mutate=mutate), cid)
    assert out.split() == ["2048", "4096"], out


def test_rlimit_several_types(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    mutate = set_process(rlimits=[
        {"type": "RLIMIT_NOFILE", "soft": 300, "hard": 400},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600},
    ])
    out = run_ok(rt, make_bundle(sh("ulimit -n; ulimit -Hn; ulimit -c; ulimit -Hc; ulimit -u; ulimit -Hu"),
                                 mutate=mutate), cid)
    assert out.split() == ["300", "400", "0", "0", "500", "600"], out


def _can_raise_nofile_hard_to(value: int) -> bool:
    code = ("import resource; s, _ = resource.getrlimit(resource.RLIMIT_NOFILE); "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, (s, {value}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=10).returncode == 0


@pytest.mark.usefixtures("leftovers")
def test_rlimit_above_host_hard_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # runc 1.1.5: "error setting rlimits for ready process: error setting
    # rlimit type 7: operation not permitted"
    _soft, host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if host_hard == resource.RLIM_INFINITY or _can_raise_nofile_hard_to(host_hard + 1):
        pytest.skip("the caller may raise its hard RLIMIT_NOFILE (CAP_SYS_RESOURCE)")
    mutate = set_process(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": host_hard + 1}])
    msg = create_refused(rt, make_bundle(["true"], mutate=mutate), cid)
    assert re.search(r"rlimit", msg, re.I), msg


@pytest.mark.usefixtures("leftovers")
def test_rlimit_unknown_type_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # runc 1.1.5: "wrong rlimit value: RLIMIT_BOGUS"
    mutate = set_process(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}])
    msg = create_refused(rt, make_bundle(["true"], mutate=mutate), cid)
    assert "RLIMIT_BOGUS" in msg, msg


# ---------------------------------------------------------------- LSM labels on a host without the LSM

def _apparmor_enabled() -> bool:
    try:
        return Path("/sys/module/apparmor/parameters/enabled").read_text().strip() == "Y"
    except OSError:
        return False


def _selinux_enabled() -> bool:
    return Path("/sys/fs/selinux/enforce").exists()


@pytest.mark.usefixtures("leftovers")
def test_apparmor_profile_without_apparmor_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # runc 1.1.5 does not check whether AppArmor is enabled: its init writes
    # "exec PROFILE" to /proc/self/attr/exec and fails with "unable to apply
    # apparmor profile: apparmor failed to apply profile: write
    # /proc/self/attr/exec: invalid argument"
    if _apparmor_enabled():
        pytest.skip("AppArmor is enabled on this host")
    msg = create_refused(rt, make_bundle(["true"], mutate=set_process(apparmorProfile="pyrt-test-profile")),
                         cid)
    assert re.search(r"apparmor", msg, re.I), msg


@pytest.mark.usefixtures("leftovers")
def test_selinux_label_without_selinux_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # runc 1.1.5: "selinux label is specified in config, but selinux is
    # disabled or not supported" (before anything is started)
    if _selinux_enabled():
        pytest.skip("SELinux is enabled on this host")
    mutate = set_process(selinuxLabel="system_u:system_r:container_t:s0:c1,c2")
    msg = create_refused(rt, make_bundle(["true"], mutate=mutate), cid)
    assert re.search(r"selinux", msg, re.I), msg
    assert re.search(r"disabled|not supported|not enabled", msg, re.I), msg


# ---------------------------------------------------------------- execCPUAffinity

def test_exec_cpu_affinity_not_applied_to_init(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # runtime-spec 1.2.1: "This setting is not applicable to the container's init process."
    skip_unless_supported(rt, "process.execCPUAffinity")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs at least two usable CPUs to tell a pinned init from a free one")
    read = ["grep", "Cpus_allowed_list", "/proc/self/status"]
    baseline = run_ok(rt, make_bundle(read, name="baseline"), f"{cid}b")
    mutate = set_process(execCPUAffinity={"initial": str(cpus[0]), "final": str(cpus[-1])})
    out = run_ok(rt, make_bundle(read, mutate=mutate), cid)
    assert out.startswith("Cpus_allowed_list:"), out
    assert out.split() == baseline.split(), f"with execCPUAffinity: {out!r}, without: {baseline!r}"
