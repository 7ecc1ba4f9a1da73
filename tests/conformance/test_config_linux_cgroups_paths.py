"""config-linux.md "Control groups": fitness checks, cgroupsPath, cgroup
ownership, the allowed device list and `unified` (ledger_config_linux_cgroups).

Helpers here are shared with test_config_linux_cgroups_resources.py."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.util import known_gap
from tests.conftest import Runtime
from tests.integration.probes import create
from tests.support.isolation import (
    CGROUP_ROOT,
    add_capabilities,
    cgroup_dir,
    create_detached,
    describe,
    host_block_device,
    parse_mountinfo,
    poll_until,
    proc_cgroups,
    remove_cgroup_tree,
    set_namespace,
    stdio_log,
    v1_hierarchies,
)

MakeBundle = Callable[..., Path]
Mutate = Callable[[dict[str, Any]], None]


# ---------------------------------------------------------------- host facts

def cgroup2_mount() -> Path | None:
    for m in parse_mountinfo(Path("/proc/self/mountinfo").read_text()):
        if m.fstype == "cgroup2" and m.root == "/":
            return Path(m.mount_point)
    return None


def unified_mode() -> bool:
    """True on a pure cgroup v2 host (cgroup2 mounted at /sys/fs/cgroup)."""
    return cgroup2_mount() == CGROUP_ROOT


def all_hierarchies() -> dict[str, Path]:
    """v1 hierarchies plus the cgroup2 one under the key '' (as in /proc/<pid>/cgroup)."""
    out = dict(v1_hierarchies())
    v2 = cgroup2_mount()
    if v2 is not None:
        out[""] = v2
    return out


def container_cgroup_dirs(pid: int) -> dict[str, Path]:
    """{hierarchy key: the directory of pid's cgroup there}, for every mounted hierarchy."""
    placed = proc_cgroups(pid)
    return {k: cgroup_dir(m, placed[k]) for k, m in all_hierarchies().items() if k in placed}


def read(p: Path) -> str:
    return p.read_text().strip()


# ---------------------------------------------------------------- fixtures & config edits

@pytest.fixture
def cgpath(rt: Runtime, cid: str) -> Iterator[str]:
    """An absolute linux.cgroupsPath for this test; whatever is left of it is
    removed after the runtime's own cleanup (delete --force)."""
    path = f"/pyrt-conf-{cid}"
    yield path
    rt.cleanup()
    for mount in all_hierarchies().values():
        remove_cgroup_tree(cgroup_dir(mount, path))


def with_path(path: str, *edits: Mutate) -> Mutate:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = path
        for e in edits:
            e(c)
    return mutate


def resources(**kw: Any) -> Mutate:
    def edit(c: dict[str, Any]) -> None:
        c["linux"].setdefault("resources", {}).update(kw)
    return edit


def create_in(rt: Runtime, make_bundle: MakeBundle, cid: str, cgpath: str, *edits: Mutate,
              args: list[str] | None = None) -> int:
    """create a container (init: sleep) in cgpath with the edits; returns the init pid."""
    b = make_bundle(args or ["sleep", "60"], mutate=with_path(cgpath, *edits))
    return create_detached(rt, b, cid)


def try_create(rt: Runtime, make_bundle: MakeBundle, cid: str, cgpath: str,
               *edits: Mutate) -> subprocess.CompletedProcess[str]:
    b = make_bundle(["sleep", "60"], mutate=with_path(cgpath, *edits))
    return create(rt, b, cid)


def assert_refused(rt: Runtime, cid: str, p: subprocess.CompletedProcess[str]) -> None:
    """An error per runtime.md: non-zero exit, a message, and no container left."""
    assert p.returncode != 0, describe(p)
    assert p.stderr.strip(), f"refused without a message: {describe(p)}"
    assert rt("state", cid).returncode != 0, "a refused create left a container behind"


# ---------------------------------------------------------------- fit for purpose

@pytest.mark.spec("config-linux-cgroups-1")
def test_frozen_cgroup_is_an_error_not_a_hang(request: pytest.FixtureRequest, rt: Runtime, cid: str,
                                              cgpath: str, make_bundle: MakeBundle) -> None:
    # A runtime that puts the container into a frozen cgroup without checking
    # would wait on an init that never runs. The spec lets it check and then
    # requires an error; either that error or a container that ran is fine.
    if "freezer" not in v1_hierarchies():
        pytest.skip("no v1 freezer hierarchy on this host")
    frozen = cgroup_dir(v1_hierarchies()["freezer"], cgpath)
    frozen.mkdir()
    try:
        (frozen / "freezer.state").write_text("FROZEN")
        b = make_bundle(["echo", "ran"], mutate=with_path(cgpath))
        try:
            p = rt("run", "--bundle", str(b), cid, timeout=8)
        except subprocess.TimeoutExpired:
            pytest.fail("the runtime hung on a frozen cgroup instead of generating an error")
        if p.returncode != 0:
            assert_refused(rt, cid, p)  # an error: a message, and no container left behind
        else:
            assert p.stdout.strip() == "ran", describe(p)
    finally:
        (frozen / "freezer.state").write_text("THAWED")


# ---------------------------------------------------------------- cgroupsPath

@pytest.mark.spec("config-linux-cgroups-path-2")
def test_absolute_path_is_relative_to_each_mount_point(rt: Runtime, cid: str, cgpath: str,
                                                       make_bundle: MakeBundle) -> None:
    b = make_bundle(["cat", "/proc/self/cgroup"], mutate=with_path(cgpath))
    pid = create_detached(rt, b, cid)
    placed = proc_cgroups(pid)
    hierarchies = v1_hierarchies() or all_hierarchies()  # a v2-only host: the one cgroup2 hierarchy
    for key, mount in hierarchies.items():
        assert placed.get(key) == cgpath, f"{key or 'cgroup2'}: init in {placed.get(key)!r}, want {cgpath}"
        assert str(pid) in read(cgroup_dir(mount, cgpath) / "cgroup.procs").split()
    # from inside (no cgroup namespace): the same paths
    p = rt("start", cid)
    assert p.returncode == 0, describe(p)
    assert poll_until(lambda: "memory:" in stdio_log(b, cid)), stdio_log(b, cid)
    inside = {",".join(sorted(f.split(":", 2)[1].split(","))): f.split(":", 2)[2]
              for f in stdio_log(b, cid).strip().splitlines()}
    for key in hierarchies:
        assert inside.get(key) == cgpath, f"inside, {key or 'cgroup2'}: {inside.get(key)!r}"


@pytest.mark.spec("config-linux-cgroups-path-2")
def test_absolute_path_on_the_cgroup2_hierarchy_of_a_hybrid_host(rt: Runtime, cid: str, cgpath: str,
                                                                 make_bundle: MakeBundle) -> None:
    """"Relative to the cgroups mount point": on a hybrid host that is each
    v1 mount point and the cgroup2 one (/sys/fs/cgroup/unified here) as well;
    the test above looks at the v1 ones. runc 1.1.5 puts the init at
    cgroupsPath in the cgroup2 hierarchy too."""
    if not v1_hierarchies() or cgroup2_mount() is None:
        pytest.skip("not a hybrid host (v1 hierarchies and a cgroup2 one)")
    v2 = cgroup2_mount()
    assert v2 is not None
    pid = create_detached(rt, make_bundle(["sleep", "60"], mutate=with_path(cgpath)), cid)
    assert proc_cgroups(pid).get("") == cgpath, proc_cgroups(pid)
    assert str(pid) in read(cgroup_dir(v2, cgpath) / "cgroup.procs").split()


@pytest.mark.spec("config-linux-cgroups-path-3")
@pytest.mark.parametrize("kind", ["absolute", "relative"])
def test_same_value_same_place(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle,
                               kind: str) -> None:
    value = cgpath if kind == "absolute" else cgpath.lstrip("/")
    seen = []
    for i in range(2):
        b = make_bundle(["sleep", "60"], mutate=with_path(value), name=f"b{i}")
        pid = create_detached(rt, b, f"{cid}-{i}")
        # every mounted hierarchy, the cgroup2 one of a hybrid host included
        seen.append({k: v for k, v in proc_cgroups(pid).items() if k in all_hierarchies()})
        assert rt("delete", "--force", f"{cid}-{i}").returncode == 0
    assert set(seen[0]) == set(all_hierarchies()), seen[0]
    assert seen[0] == seen[1]
    # a relative value's base is the runtime's choice (MAY): it must only be the same
    # both times, and the place must end in the value
    # (the cgroup2 hierarchy of a hybrid host: see path-2's test above)
    assert all(where.endswith(value) for k, where in seen[0].items() if k in v1_hierarchies() or
               not v1_hierarchies()), seen[0]
    if kind == "relative":
        mine = proc_cgroups("self")
        for key, mount in all_hierarchies().items():
            remove_cgroup_tree(cgroup_dir(mount, os.path.join(mine.get(key, "/"), value)))


@pytest.mark.spec("config-linux-cgroups-path-4")
@pytest.mark.parametrize("value", ["../../../pyrt-escape-{cid}", "/a/../../../pyrt-escape-{cid}",
                                   "system.slice:pyrt:{cid}"], ids=["dotdot-relative", "dotdot-absolute",
                                                                    "systemd-form"])
def test_unusual_paths_error_or_stay_inside(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                            value: str) -> None:
    # Which values are invalid is the runtime's choice; a value it refuses
    # must be an error (and leave nothing), one it takes must be used inside
    # the hierarchy it names.
    value = value.format(cid=cid)
    b = make_bundle(["sleep", "60"], mutate=with_path(value))
    p = create(rt, b, cid)
    try:
        if p.returncode != 0:
            assert_refused(rt, cid, p)
            return
        pid = int(rt.state(cid)["pid"])
        for key, d in container_cgroup_dirs(pid).items():
            mount = all_hierarchies()[key]
            assert d.resolve().is_relative_to(mount), f"{key}: {d} is outside {mount}"
            assert str(pid) in read(d / "cgroup.procs").split()
    finally:
        rt.cleanup()
        for mount in all_hierarchies().values():
            for leftover in (mount / f"pyrt-escape-{cid}", mount / f"system.slice:pyrt:{cid}"):
                remove_cgroup_tree(leftover)
        mine = proc_cgroups("self")
        for key, mount in v1_hierarchies().items():
            remove_cgroup_tree(cgroup_dir(mount, os.path.join(mine.get(key, "/"), f"system.slice:pyrt:{cid}")))


# ---------------------------------------------------------------- ownership

USER = 1000


def _as_user(c: dict[str, Any]) -> None:
    c["process"]["user"] = {"uid": USER, "gid": USER}


def _cgroup_mount(ro: bool | None) -> Mutate:
    """ro=None: no /sys/fs/cgroup mount at all."""
    def edit(c: dict[str, Any]) -> None:
        c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"]
        if ro is not None:
            opts = ["nosuid", "noexec", "nodev", "relatime"] + (["ro"] if ro else [])
            c["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                                "options": opts})
    return edit


def _cgroupns(c: dict[str, Any]) -> None:
    set_namespace(c, "cgroup")


def _owned(pid: int, uid: int) -> list[Path]:
    """Directories and files of the container's cgroups owned by uid."""
    out = []
    for d in container_cgroup_dirs(pid).values():
        for p in [d, *d.iterdir()]:
            if p.stat().st_uid == uid:
                out.append(p)
    return out


def _delegate_list() -> list[str]:
    f = Path("/sys/kernel/cgroup/delegate")
    if f.exists():
        return f.read_text().split()
    return ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]


def _needs_v2() -> None:
    if not unified_mode():
        pytest.skip("ownership changes are for cgroup v2 hosts; this host uses cgroup v1 (hybrid)")


@pytest.mark.spec("config-linux-cgroups-ownership-1")
def test_no_chown_on_cgroup_v1(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    if not v1_hierarchies():
        pytest.skip("no cgroup v1 hierarchy on this host")
    # every condition for a change but v1: user 1000, a cgroup namespace, a rw cgroup mount
    pid = create_in(rt, make_bundle, cid, cgpath, _as_user, _cgroupns, _cgroup_mount(ro=False))
    v1 = {k for k in v1_hierarchies()}
    chowned = [p for k, d in container_cgroup_dirs(pid).items() if k in v1
               for p in [d, *d.iterdir()] if p.stat().st_uid == USER]
    assert not chowned, f"v1 cgroup files given to uid {USER}: {chowned}"


@pytest.mark.spec("config-linux-cgroups-ownership-2")
def test_no_chown_without_cgroup_namespace(rt: Runtime, cid: str, cgpath: str,
                                           make_bundle: MakeBundle) -> None:
    pid = create_in(rt, make_bundle, cid, cgpath, _as_user, _cgroup_mount(ro=False))
    assert not _owned(pid, USER)


@pytest.mark.spec("config-linux-cgroups-ownership-3")
def test_chown_with_rw_cgroup_mount(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    _needs_v2()
    pid = create_in(rt, make_bundle, cid, cgpath, _as_user, _cgroupns, _cgroup_mount(ro=False))
    d = container_cgroup_dirs(pid)[""]
    assert d.stat().st_uid == USER


@pytest.mark.spec("config-linux-cgroups-ownership-3", "config-linux-cgroups-ownership-4")
@pytest.mark.parametrize("ro", [True, None], ids=["ro-mount", "no-mount"])
def test_no_chown_without_rw_cgroup_mount(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle,
                                          ro: bool | None) -> None:
    pid = create_in(rt, make_bundle, cid, cgpath, _as_user, _cgroupns, _cgroup_mount(ro=ro))
    assert not _owned(pid, USER)


@pytest.mark.spec("config-linux-cgroups-ownership-5", "config-linux-cgroups-ownership-6",
                  "config-linux-cgroups-ownership-7")
def test_chown_only_delegate_files(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    _needs_v2()
    pid = create_in(rt, make_bundle, cid, cgpath, _as_user, _cgroupns, _cgroup_mount(ro=False))
    d = container_cgroup_dirs(pid)[""]
    delegate = set(_delegate_list())
    owned = {p.name for p in d.iterdir() if p.stat().st_uid == USER}
    assert owned <= delegate, f"files outside the delegate list: {owned - delegate}"
    present = {n for n in delegate if (d / n).exists()}
    assert owned == present, f"listed files left to root: {present - owned}"


@pytest.mark.spec("config-linux-cgroups-ownership-8")
def test_fallback_list_without_delegate_file(rt: Runtime, cid: str, cgpath: str,
                                             make_bundle: MakeBundle) -> None:
    _needs_v2()
    if Path("/sys/kernel/cgroup/delegate").exists():
        pytest.skip("this kernel has /sys/kernel/cgroup/delegate: the fallback list is not used")
    pid = create_in(rt, make_bundle, cid, cgpath, _as_user, _cgroupns, _cgroup_mount(ro=False))
    d = container_cgroup_dirs(pid)[""]
    for n in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
        assert (d / n).stat().st_uid == USER, n


@pytest.mark.spec("config-linux-cgroups-ownership-9")
def test_no_other_file_chowned(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    pid = create_in(rt, make_bundle, cid, cgpath, _as_user, _cgroupns, _cgroup_mount(ro=False))
    delegate = set(_delegate_list())
    other = [p for p in _owned(pid, USER) if p.is_file() and p.name not in delegate]
    assert not other, f"non-delegate cgroup files given to uid {USER}: {other}"


# ---------------------------------------------------------------- device allow-list

def _disk_rules(order: list[bool], major: int, minor: int) -> Mutate:
    def edit(c: dict[str, Any]) -> None:
        add_capabilities(c, "CAP_MKNOD")
        c["linux"]["resources"]["devices"] = [{"allow": False, "access": "rwm"}] + [
            {"allow": allow, "type": "b", "major": major, "minor": minor, "access": "r"} for allow in order]
    return edit


@pytest.mark.spec("config-linux-cgroups-devices-1")
@pytest.mark.parametrize("order", [[True, False], [False, True]], ids=["allow-then-deny", "deny-then-allow"])
def test_device_rules_apply_in_order(rt: Runtime, cid: str, cgpath: str, make_bundle: MakeBundle,
                                     order: list[bool]) -> None:
    major, minor, _name = host_block_device()
    script = (f"mknod /dev/hostdisk b {major} {minor} && echo mknod-ok; "
              "head -c1 /dev/hostdisk >/dev/null && echo read-ok; true")
    b = make_bundle(["sh", "-c", script], mutate=with_path(cgpath, _disk_rules(order, major, minor)))
    p = rt("run", "--bundle", str(b), cid, timeout=30)
    assert p.returncode == 0, describe(p)
    # mknod is allowed to every container (runtimes add b *:* m); reading
    # follows whichever of the two rules for the disk came last
    assert "mknod-ok" in p.stdout, describe(p)
    assert ("read-ok" in p.stdout) == order[-1], describe(p)


# ---------------------------------------------------------------- unified

def _v2_controllers() -> set[str]:
    v2 = cgroup2_mount()
    return set(read(v2 / "cgroup.controllers").split()) if v2 else set()


def _hugepage_sizes() -> list[str]:
    """cgroup names of the host's huge page sizes, e.g. ['2MB', '1GB']."""
    out = []
    for d in sorted(Path("/sys/kernel/mm/hugepages").glob("hugepages-*kB")):
        kb = int(d.name.split("-")[1][:-2])
        out.append(f"{kb // 1024 // 1024}GB" if kb >= 1 << 20 else f"{kb // 1024}MB" if kb >= 1024 else f"{kb}KB")
    return out


@pytest.mark.spec("config-linux-cgroups-unified-1")
def test_unified_enables_needed_controller(request: pytest.FixtureRequest, rt: Runtime, cid: str,
                                           cgpath: str, make_bundle: MakeBundle) -> None:
    if "hugetlb" not in _v2_controllers() or "2MB" not in _hugepage_sizes():
        pytest.skip("needs the hugetlb controller on the cgroup2 hierarchy and 2MB huge pages")
    if not unified_mode():
        known_gap(request, rt, "runc 1.1.5 refuses unified on a hybrid host", runtime="runc")
    limit = str(4 << 20)
    pid = create_in(rt, make_bundle, cid, cgpath, resources(unified={"hugetlb.2MB.max": limit}))
    d = container_cgroup_dirs(pid)[""]
    assert "hugetlb" in read(d / "cgroup.controllers").split()
    assert read(d / "hugetlb.2MB.max") == limit


@pytest.mark.spec("config-linux-cgroups-unified-2")
def test_unified_unknown_key_still_written(request: pytest.FixtureRequest, rt: Runtime, cid: str,
                                           cgpath: str, make_bundle: MakeBundle) -> None:
    if cgroup2_mount() is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    if not unified_mode():
        known_gap(request, rt, "runc 1.1.5 refuses unified on a hybrid host", runtime="runc")
    # cgroup.max.depth: a core file no runtime needs to know about
    pid = create_in(rt, make_bundle, cid, cgpath, resources(unified={"cgroup.max.depth": "3"}))
    assert read(container_cgroup_dirs(pid)[""] / "cgroup.max.depth") == "3"


@pytest.mark.spec("config-linux-cgroups-unified-3")
@pytest.mark.parametrize("key", ["pyrtbogus.max", "rdma.max", "misc.max"])
def test_unified_missing_controller_is_an_error(request: pytest.FixtureRequest, rt: Runtime, cid: str,
                                                cgpath: str, make_bundle: MakeBundle, key: str) -> None:
    """The control first: a unified entry for a core file (cgroup.max.depth,
    present in every cgroup2 cgroup) must be accepted, else the refusal below
    is that of a runtime that refuses every unified entry and shows nothing
    about missing controllers."""
    ctrl = key.split(".")[0]
    if ctrl in _v2_controllers():
        pytest.skip(f"the {ctrl} controller is present on this host")
    if cgroup2_mount() is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    if not unified_mode():
        known_gap(request, rt, "runc 1.1.5 refuses unified on a hybrid host", runtime="runc")
    b = make_bundle(["sleep", "60"], mutate=with_path(cgpath + "-ctl", resources(unified={"cgroup.max.depth": "3"})),
                    name="control")
    try:
        ctl = create(rt, b, cid + "-ctl")
        assert ctl.returncode == 0, f"a unified entry for a core file is refused too: {describe(ctl)}"
    finally:
        rt("delete", "--force", cid + "-ctl")
        for mount in all_hierarchies().values():
            remove_cgroup_tree(cgroup_dir(mount, cgpath + "-ctl"))
    p = try_create(rt, make_bundle, cid, cgpath, resources(unified={key: "max"}))
    assert_refused(rt, cid, p)


@pytest.mark.spec("config-linux-cgroups-unified-4")
def test_v1_field_for_v2_only_controller_converted_or_error(rt: Runtime, cid: str, cgpath: str,
                                                            make_bundle: MakeBundle) -> None:
    # hugetlb is on the cgroup2 hierarchy only (hybrid host, or a v2 host);
    # hugepageLimits is the v1-style field: converted, or an error.
    if "hugetlb" in v1_hierarchies() or "hugetlb" not in _v2_controllers():
        pytest.skip("needs hugetlb on the cgroup2 hierarchy and not on a v1 one")
    if "2MB" not in _hugepage_sizes():
        pytest.skip("no 2MB huge pages on this host")
    limit = 4 << 20
    p = try_create(rt, make_bundle, cid, cgpath, resources(hugepageLimits=[{"pageSize": "2MB", "limit": limit}]))
    if p.returncode != 0:
        assert_refused(rt, cid, p)
        return
    d = container_cgroup_dirs(int(rt.state(cid)["pid"]))[""]
    names = ["hugetlb.2MB.rsvd.max", "hugetlb.2MB.max"]
    got = {n: read(d / n) for n in names if (d / n).exists()}
    assert got and next(iter(got.values())) == str(limit), got
