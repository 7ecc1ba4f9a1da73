"""config-linux.md "Control groups": the resource fields (memory, cpu,
blockIO, hugepage limits, network, pids, rdma), each checked by its effect
where the host can show it, else by the cgroup file the kernel enforces from.

pyruntime applies memory (limit, swap, reservation), pids.limit and the
device list so far and refuses every other field by name at create: those
tests are strict xfails on pyruntime (known_gap)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conformance.test_config_linux_cgroups_paths import (
    MakeBundle,
    assert_refused,
    container_cgroup_dirs,
    create_in,
    read,
    resources,
    try_create,
    with_path,
)
from tests.conformance.test_config_linux_cgroups_paths import cgpath as cgpath  # noqa: F401 (fixture)
from tests.conformance.util import known_gap
from tests.conftest import Runtime
from tests.support.isolation import (
    build_probe,
    describe,
    host_block_device,
    install_probe,
    net_cls_hierarchy,
    run_ok,
    v1_hierarchies,
)

MIB = 1 << 20


def gap(field: str) -> str:
    return f"linux.resources.{field} not implemented yet (refused by name at create)"


def v1_dir(pid: int, ctrl: str) -> Path:
    for key, d in container_cgroup_dirs(pid).items():
        if ctrl in key.split(","):
            return d
    pytest.skip(f"no v1 {ctrl} hierarchy on this host")


def needs_v1(ctrl: str) -> None:
    if not any(ctrl in k.split(",") for k in v1_hierarchies()):
        pytest.skip(f"the {ctrl} controller is not mounted (v1) on this host")


@pytest.fixture(scope="session")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cg-probes")
    return {n: build_probe(n, d) for n in ("memhog", "forkmany")}


# ---------------------------------------------------------------- memory

@pytest.mark.spec("config-linux-cgroups-memory-2")
def test_memory_limit_oom_kills(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle,
                                probes: dict[str, Path]) -> None:
    needs_v1("memory")
    mem: dict[str, int] = {"limit": 32 * MIB}
    if (v1_hierarchies()["memory"] / "memory.memsw.limit_in_bytes").exists():
        mem["swap"] = 32 * MIB
    # inside: 8 MiB fits, 64 MiB is killed (SIGKILL, 137)
    for n, name in ((8, "fits"), (64, "over")):
        b = make_bundle(["/bin/memhog", str(n)], mutate=with_path(cgpath, resources(memory=mem)), name=name)
        install_probe(probes["memhog"], b)
        p = rt("run", "--bundle", str(b), f"{cid}-{name}", timeout=60)
        if n == 8:
            assert p.returncode == 0 and p.stdout.strip() == "survived 8", describe(p)
        else:
            assert p.returncode == 137 and "survived" not in p.stdout, describe(p)


@pytest.mark.spec("config-linux-cgroups-memory-2", "config-linux-cgroups-memory-3")
def test_memory_limit_and_reservation_files(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    needs_v1("memory")
    pid = create_in(rt, make_bundle, cid, cgpath, resources(memory={"limit": 64 * MIB, "reservation": 32 * MIB}))
    d = v1_dir(pid, "memory")
    assert int(read(d / "memory.limit_in_bytes")) == 64 * MIB
    assert int(read(d / "memory.soft_limit_in_bytes")) == 32 * MIB


@pytest.mark.spec("config-linux-cgroups-memory-4")
def test_memory_swap(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    needs_v1("memory")
    if not (v1_hierarchies()["memory"] / "memory.memsw.limit_in_bytes").exists():
        pytest.skip("no swap accounting (memory.memsw.*) on this host")
    pid = create_in(rt, make_bundle, cid, cgpath, resources(memory={"limit": 64 * MIB, "swap": 96 * MIB}))
    assert int(read(v1_dir(pid, "memory") / "memory.memsw.limit_in_bytes")) == 96 * MIB


def preset(ctrl: str, cgpath: str, values: dict[str, str]) -> Path:
    """Make the container's cgroup (v1 `ctrl`) before the runtime does, with
    `values` written: a field the runtime ignores then shows as the preset
    value, not as the kernel's default (which is often what the field asks
    for). The cgpath fixture removes it after."""
    d = v1_hierarchies()[ctrl] / cgpath.lstrip("/")
    d.mkdir()
    for f, v in values.items():
        (d / f).write_text(v)
    return d


@pytest.mark.spec("config-linux-cgroups-memory-10")
def test_memory_minus_one_is_unlimited(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                                       make_bundle: MakeBundle) -> None:
    """A new cgroup is unlimited anyway: the cgroup is made first with limits
    (64 MiB, swap 64 MiB, soft 32 MiB), so only a runtime that writes -1 to
    each file leaves it unlimited."""
    needs_v1("memory")
    memsw = (v1_hierarchies()["memory"] / "memory.memsw.limit_in_bytes").exists()
    values = {"memory.limit_in_bytes": str(64 * MIB), "memory.soft_limit_in_bytes": str(32 * MIB)}
    mem = {"limit": -1, "reservation": -1}
    if memsw:
        values["memory.memsw.limit_in_bytes"] = str(64 * MIB)
        mem["swap"] = -1
    preset("memory", cgpath, values)
    pid = create_in(rt, make_bundle, cid, cgpath, resources(memory=mem))
    d = v1_dir(pid, "memory")
    for f in values:
        assert int(read(d / f)) >= 1 << 62, f"{f}: {read(d / f)}"


def _host_accepts(ctrl: str, fname: str, value: str, tmp_name: str) -> bool:
    """Whether this kernel takes and keeps `value` in `fname` (tried in a cgroup of our own)."""
    d = v1_hierarchies()[ctrl] / tmp_name
    d.mkdir()
    try:
        (d / fname).write_text(value)
        return read(d / fname) == value
    except OSError:
        return False
    finally:
        d.rmdir()


@pytest.mark.spec("config-linux-cgroups-memory-5")
def test_memory_kernel(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                       make_bundle: MakeBundle) -> None:
    needs_v1("memory")
    if not _host_accepts("memory", "memory.kmem.limit_in_bytes", str(64 * MIB), f"pyrt-probe-{cid}"):
        pytest.skip("this kernel no longer enforces memory.kmem.limit_in_bytes (writes are ignored)")
    pid = create_in(rt, make_bundle, cid, cgpath, resources(memory={"kernel": 64 * MIB}))
    assert int(read(v1_dir(pid, "memory") / "memory.kmem.limit_in_bytes")) == 64 * MIB


@pytest.mark.spec("config-linux-cgroups-memory-6")
def test_memory_kernel_tcp(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                           make_bundle: MakeBundle) -> None:
    needs_v1("memory")
    if not _host_accepts("memory", "memory.kmem.tcp.limit_in_bytes", str(64 * MIB), f"pyrt-probe-{cid}"):
        pytest.skip("this kernel does not take memory.kmem.tcp.limit_in_bytes")
    known_gap(request, rt, "runc 1.1.5 does not write memory.kmem.tcp.limit_in_bytes", runtime="runc")
    pid = create_in(rt, make_bundle, cid, cgpath, resources(memory={"kernelTCP": 64 * MIB}))
    assert int(read(v1_dir(pid, "memory") / "memory.kmem.tcp.limit_in_bytes")) == 64 * MIB


@pytest.mark.spec("config-linux-cgroups-memory-7")
def test_memory_swappiness(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                           make_bundle: MakeBundle) -> None:
    needs_v1("memory")
    pid = create_in(rt, make_bundle, cid, cgpath, resources(memory={"swappiness": 17}))
    assert read(v1_dir(pid, "memory") / "memory.swappiness") == "17"


@pytest.mark.spec("config-linux-cgroups-memory-8")
def test_memory_disable_oom_killer(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                                   make_bundle: MakeBundle) -> None:
    needs_v1("memory")
    pid = create_in(rt, make_bundle, cid, cgpath, resources(memory={"limit": 64 * MIB, "disableOOMKiller": True}))
    assert "oom_kill_disable 1" in read(v1_dir(pid, "memory") / "memory.oom_control").splitlines()


@pytest.mark.spec("config-linux-cgroups-memory-9")
def test_memory_use_hierarchy(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                              make_bundle: MakeBundle) -> None:
    needs_v1("memory")
    pid = create_in(rt, make_bundle, cid, cgpath, resources(memory={"useHierarchy": True}))
    assert read(v1_dir(pid, "memory") / "memory.use_hierarchy") == "1"


@pytest.mark.spec("config-linux-cgroups-memory-9")
def test_memory_use_hierarchy_false(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                                    make_bundle: MakeBundle) -> None:
    """useHierarchy true is what every cgroup has on kernels since 5.x (the
    test above cannot fail on them): false shows whether the runtime applies
    the field. Where the kernel can disable hierarchical accounting the file
    must read 0; where it refuses (EINVAL: "non-hierarchical mode is
    deprecated") the runtime cannot apply the field and must generate an
    error, not run the container with it silently ignored. runc 1.1.5 ignores
    useHierarchy (it is not in its cgroup config): marked."""
    needs_v1("memory")
    known_gap(request, rt, "runc 1.1.5 ignores useHierarchy: false is neither applied nor refused",
              runtime="runc")
    takes_zero = _host_accepts("memory", "memory.use_hierarchy", "0", f"pyrt-probe-{cid}")
    p = try_create(rt, make_bundle, cid, cgpath, resources(memory={"useHierarchy": False}))
    if takes_zero:
        assert p.returncode == 0, describe(p)
        assert read(v1_dir(int(rt.state(cid)["pid"]), "memory") / "memory.use_hierarchy") == "0"
    else:
        assert_refused(rt, cid, p)


# ---------------------------------------------------------------- cpu

@pytest.mark.spec("config-linux-cgroups-cpu-3", "config-linux-cgroups-cpu-4")
def test_cpu_shares_quota_period(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                                 make_bundle: MakeBundle) -> None:
    needs_v1("cpu")
    pid = create_in(rt, make_bundle, cid, cgpath,
                    resources(cpu={"shares": 512, "quota": 20000, "period": 50000}))
    d = v1_dir(pid, "cpu")
    assert read(d / "cpu.shares") == "512"
    assert read(d / "cpu.cfs_quota_us") == "20000"
    assert read(d / "cpu.cfs_period_us") == "50000"


@pytest.mark.spec("config-linux-cgroups-cpu-5")
def test_cpu_burst(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                   make_bundle: MakeBundle) -> None:
    needs_v1("cpu")
    if not (v1_hierarchies()["cpu"] / "cpu.cfs_burst_us").exists():
        pytest.skip("this kernel has no CFS burst (cpu.cfs_burst_us)")
    known_gap(request, rt, "runc 1.1.5 ignores cpu.burst (added in runc 1.2)", runtime="runc")
    pid = create_in(rt, make_bundle, cid, cgpath,
                    resources(cpu={"quota": 20000, "period": 100000, "burst": 10000}))
    assert read(v1_dir(pid, "cpu") / "cpu.cfs_burst_us") == "10000"


@pytest.mark.spec("config-linux-cgroups-cpu-6")
def test_cpu_realtime(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                      make_bundle: MakeBundle) -> None:
    needs_v1("cpu")
    if not (v1_hierarchies()["cpu"] / "cpu.rt_runtime_us").exists():
        pytest.skip("this kernel has no RT group scheduling (cpu.rt_runtime_us)")
    pid = create_in(rt, make_bundle, cid, cgpath,
                    resources(cpu={"realtimeRuntime": 1000, "realtimePeriod": 100000}))
    d = v1_dir(pid, "cpu")
    assert read(d / "cpu.rt_runtime_us") == "1000"
    assert read(d / "cpu.rt_period_us") == "100000"


def _cpus() -> list[int]:
    out: list[int] = []
    for part in Path("/sys/fs/cgroup/cpuset/cpuset.effective_cpus").read_text().strip().split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


@pytest.mark.spec("config-linux-cgroups-cpu-7")
def test_cpu_cpus(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                  make_bundle: MakeBundle) -> None:
    needs_v1("cpuset")
    cpus = _cpus()
    if len(cpus) < 2:
        pytest.skip("needs two CPUs to restrict the container to one")
    one = str(cpus[-1])
    b = make_bundle(["grep", "Cpus_allowed_list", "/proc/self/status"],
                    mutate=with_path(cgpath, resources(cpu={"cpus": one})))
    out = run_ok(rt, b, cid)  # inside: the affinity the kernel gives the container
    assert out.split() == ["Cpus_allowed_list:", one], out


@pytest.mark.spec("config-linux-cgroups-cpu-8")
def test_cpu_mems(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                  make_bundle: MakeBundle) -> None:
    needs_v1("cpuset")
    node = read(Path("/sys/fs/cgroup/cpuset/cpuset.effective_mems")).split(",")[0].split("-")[0]
    b = make_bundle(["grep", "Mems_allowed_list", "/proc/self/status"],
                    mutate=with_path(cgpath, resources(cpu={"mems": node})))
    out = run_ok(rt, b, cid)
    assert out.split() == ["Mems_allowed_list:", node], out


@pytest.mark.spec("config-linux-cgroups-cpu-8")
def test_cpu_mems_not_on_this_host_is_an_error(rt: Runtime, cid: str, cgpath: str,
                                               make_bundle: MakeBundle) -> None:
    """On a host with one memory node the test above cannot fail (node 0 is
    every process's only node): a node the host does not have shows whether
    the runtime writes mems at all. The kernel refuses it in cpuset.mems, so
    the runtime must generate an error instead of running the container
    without the field."""
    needs_v1("cpuset")
    nodes = read(Path("/sys/fs/cgroup/cpuset/cpuset.effective_mems"))
    top = max(int(part.split("-")[-1]) for part in nodes.split(","))
    p = try_create(rt, make_bundle, cid, cgpath, resources(cpu={"mems": str(top + 1)}))
    assert_refused(rt, cid, p)


@pytest.mark.spec("config-linux-cgroups-cpu-9")
def test_cpu_idle(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                  make_bundle: MakeBundle) -> None:
    needs_v1("cpu")
    if not (v1_hierarchies()["cpu"] / "cpu.idle").exists():
        pytest.skip("this kernel has no cpu.idle")
    known_gap(request, rt, "runc 1.1.5 sets cpu.idle on cgroup v2 only", runtime="runc")
    pid = create_in(rt, make_bundle, cid, cgpath, resources(cpu={"idle": 1}))
    assert read(v1_dir(pid, "cpu") / "cpu.idle") == "1"


# ---------------------------------------------------------------- blockIO

def _blkio_has(fname: str) -> bool:
    return any((v1_hierarchies().get("blkio", Path("/nonexistent")) / f).exists()
               for f in (fname, fname.replace("blkio.", "blkio.bfq.")))


@pytest.mark.spec("config-linux-cgroups-blockio-2")
def test_blockio_weight(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                        make_bundle: MakeBundle) -> None:
    needs_v1("blkio")
    if not _blkio_has("blkio.weight"):
        pytest.skip("no proportional-weight I/O scheduler (CFQ/BFQ blkio.weight) on this host")
    pid = create_in(rt, make_bundle, cid, cgpath, resources(blockIO={"weight": 300}))
    d = v1_dir(pid, "blkio")
    f = d / "blkio.weight" if (d / "blkio.weight").exists() else d / "blkio.bfq.weight"
    assert read(f).split()[-1] == "300"


@pytest.mark.spec("config-linux-cgroups-blockio-3")
def test_blockio_weight_device(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                               make_bundle: MakeBundle) -> None:
    needs_v1("blkio")
    major, minor, name = host_block_device()
    sched = Path(f"/sys/block/{name}/queue/scheduler")
    if not _blkio_has("blkio.weight_device") or "[bfq]" not in (sched.read_text() if sched.exists() else ""):
        pytest.skip(f"{name} does not use a proportional-weight scheduler (per-device weights unsupported)")
    pid = create_in(rt, make_bundle, cid, cgpath,
                    resources(blockIO={"weightDevice": [{"major": major, "minor": minor, "weight": 300}]}))
    d = v1_dir(pid, "blkio")
    f = d / "blkio.weight_device" if (d / "blkio.weight_device").exists() else d / "blkio.bfq.weight_device"
    assert f"{major}:{minor} 300" in read(f)


@pytest.mark.spec("config-linux-cgroups-blockio-4", "config-linux-cgroups-blockio-5")
def test_blockio_throttle(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                          make_bundle: MakeBundle) -> None:
    needs_v1("blkio")
    major, minor, _name = host_block_device()

    def dev(rate: int) -> list[dict[str, int]]:
        return [{"major": major, "minor": minor, "rate": rate}]

    pid = create_in(rt, make_bundle, cid, cgpath, resources(blockIO={
        "throttleReadBpsDevice": dev(1 * MIB), "throttleWriteBpsDevice": dev(2 * MIB),
        "throttleReadIOPSDevice": dev(100), "throttleWriteIOPSDevice": dev(200)}))
    d = v1_dir(pid, "blkio")
    want = {"read_bps_device": 1 * MIB, "write_bps_device": 2 * MIB,
            "read_iops_device": 100, "write_iops_device": 200}
    for f, rate in want.items():
        assert read(d / f"blkio.throttle.{f}") == f"{major}:{minor} {rate}", f


# ---------------------------------------------------------------- hugetlb (v1)

@pytest.mark.spec("config-linux-cgroups-hugepage-1")
def test_hugepage_limit_v1(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                           make_bundle: MakeBundle) -> None:
    needs_v1("hugetlb")  # on this hybrid host hugetlb is on cgroup2 only: see unified-4's test
    known_gap(request, rt, gap("hugepageLimits"))
    pid = create_in(rt, make_bundle, cid, cgpath,
                    resources(hugepageLimits=[{"pageSize": "2MB", "limit": 4 * MIB}]))
    d = v1_dir(pid, "hugetlb")
    f = d / "hugetlb.2MB.rsvd.limit_in_bytes"
    assert int(read(f if f.exists() else d / "hugetlb.2MB.limit_in_bytes")) == 4 * MIB


# ---------------------------------------------------------------- network, rdma

@pytest.fixture
def net_hierarchy(rt: Runtime, tmp_path: Path) -> Iterator[Path]:
    """net_cls/net_prio are not mounted on this host: the test mounts them."""
    if not v1_hierarchies():
        pytest.skip("net_cls and net_prio are cgroup v1 controllers; this host is cgroup v2 only")
    with net_cls_hierarchy(rt.cleanup, tmp_path) as mnt:
        yield mnt


RUNC_NET = "runc 1.1.5 looks for v1 hierarchies only at /sys/fs/cgroup/<controller>: it misses one mounted elsewhere"


@pytest.mark.spec("config-linux-cgroups-network-1")
def test_network_class_id(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                          make_bundle: MakeBundle, net_hierarchy: Path) -> None:
    if net_hierarchy.parent != Path("/sys/fs/cgroup"):
        known_gap(request, rt, RUNC_NET, runtime="runc")
    pid = create_in(rt, make_bundle, cid, cgpath, resources(network={"classID": 1048577}))
    assert read(v1_dir(pid, "net_cls") / "net_cls.classid") == "1048577"


@pytest.mark.spec("config-linux-cgroups-network-2")
def test_network_priorities(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                            make_bundle: MakeBundle, net_hierarchy: Path) -> None:
    if net_hierarchy.parent != Path("/sys/fs/cgroup"):
        known_gap(request, rt, RUNC_NET, runtime="runc")
    pid = create_in(rt, make_bundle, cid, cgpath,
                    resources(network={"priorities": [{"name": "lo", "priority": 5}]}))
    assert "lo 5" in read(v1_dir(pid, "net_prio") / "net_prio.ifpriomap").splitlines()


@pytest.mark.spec("config-linux-cgroups-rdma-2")
def test_rdma_limits(request: pytest.FixtureRequest, rt: Runtime, cid: str, cgpath: str,
                     make_bundle: MakeBundle) -> None:
    needs_v1("rdma")
    devs = [line.split()[0] for line in read(v1_hierarchies()["rdma"] / "rdma.current").splitlines()]
    if not devs:
        pytest.skip("no RDMA device on this host")
    known_gap(request, rt, gap("rdma"))
    pid = create_in(rt, make_bundle, cid, cgpath, resources(rdma={devs[0]: {"hcaHandles": 3, "hcaObjects": 100}}))
    assert f"{devs[0]} hca_handle=3 hca_object=100" in read(v1_dir(pid, "rdma") / "rdma.max")


# ---------------------------------------------------------------- pids

def _forked(out: str) -> tuple[int, int]:
    f = dict(x.partition("=")[::2] for x in out.split())
    return int(f["forked"]), int(f["failed"])


ForkRun = Callable[[int | None], tuple[str, str]]


@pytest.fixture
def fork_in(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle,
            probes: dict[str, Path]) -> ForkRun:
    """fork_in(limit) -> (probe output, pids.max seen while it ran)."""
    def go(limit: int | None) -> tuple[str, str]:
        pids = {} if limit is None else {"pids": {"limit": limit}}
        b = make_bundle(["/bin/forkmany", "20"], mutate=with_path(cgpath, resources(**pids)))
        install_probe(probes["forkmany"], b)
        pid = create_in_bundle(rt, b, cid)
        seen = read(v1_dir(pid, "pids") / "pids.max")
        return run_started(rt, b, cid), seen
    return go


def create_in_bundle(rt: Runtime, b: Path, cid: str) -> int:
    from tests.support.isolation import create_detached
    return create_detached(rt, b, cid)


def run_started(rt: Runtime, b: Path, cid: str) -> str:
    from tests.support.isolation import poll_until, stdio_log
    p = rt("start", cid)
    assert p.returncode == 0, describe(p)
    assert poll_until(lambda: "forked=" in stdio_log(b, cid), timeout=20), stdio_log(b, cid)
    return stdio_log(b, cid)


@pytest.mark.spec("config-linux-cgroups-pids-1")
def test_pids_limit_hit(fork_in: ForkRun) -> None:
    needs_v1("pids")
    out, seen = fork_in(10)
    assert seen == "10"
    forked, failed = _forked(out)
    assert 5 <= forked <= 9 and failed >= 11, out  # the probe itself is one of the 10


@pytest.mark.spec("config-linux-cgroups-pids-1")
def test_pids_minus_one_is_max(fork_in: ForkRun, cgpath: str) -> None:
    """A new cgroup's pids.max is max anyway: the cgroup is made first with
    pids.max 5, so only a runtime that writes "max" for -1 lets 20 forks through."""
    needs_v1("pids")
    preset("pids", cgpath, {"pids.max": "5"})
    out, seen = fork_in(-1)
    assert seen == "max"
    assert _forked(out) == (20, 0), out


@pytest.mark.spec("config-linux-cgroups-pids-2")
def test_pids_zero_is_a_real_limit(request: pytest.FixtureRequest, rt: Runtime, fork_in: ForkRun) -> None:
    needs_v1("pids")
    known_gap(request, rt, "runc 1.1.5 takes pids.limit 0 as no limit", runtime="runc")
    out, seen = fork_in(0)
    assert seen == "0"
    assert _forked(out) == (0, 20), out
