"""config.md "POSIX-platform Hooks": path and timeout, order, the state on
stdin, when each kind runs and in which namespace its path resolves and it
executes.

The runtime-namespace hooks are scripts that exist only on the host (in the
test's tmp dir, not in the rootfs); the startContainer hook is a script that
exists only in the rootfs. Each writes what it sees into a log directory:
host hooks directly, container hooks through a bind mount at /hooklog.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.test_runtime_state import check_schema
from tests.conftest import Runtime
from tests.integration.probes import alive, create, must, remove_cgroups, wait_for
from tests.support.config_fields import create_refused

MakeBundle = Callable[..., Path]
RUNTIME_NS = ["prestart", "createRuntime", "poststart", "poststop"]
ALL = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
NS = ("mnt", "pid", "net", "uts", "ipc")

# $1: log dir, $2: the hook's name, $3: the bundle, $4: the runtime's --root.
# Saves stdin, the namespaces, "before-pivot" when the bundle is in view (of the
# container's root for hooks of the runtime namespace, of its own root
# otherwise), the container process's cmdline, its mount table and the hook's
# own, and whether it and its state directory still exist; then appends the
# name to `order`.
SCRIPT = r"""#!/bin/sh
log="$1"; name="$2"; bundle="$3"; root="$4"
cat > "$log/$name.stdin"
for ns in mnt pid net uts ipc; do echo "$ns $(readlink /proc/self/ns/$ns)"; done > "$log/$name.ns"
pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$log/$name.stdin")
if [ -n "$pid" ] && [ -e "/proc/$pid/root$bundle/config.json" ]; then echo before-pivot; fi > "$log/$name.pivot"
if [ -e "$bundle/config.json" ]; then echo own-root-sees-bundle; fi >> "$log/$name.pivot"
if [ -n "$pid" ]; then tr '\0' ' ' < "/proc/$pid/cmdline" > "$log/$name.cmdline"; fi
if [ -n "$pid" ]; then cat "/proc/$pid/mountinfo" > "$log/$name.pidmounts" 2>/dev/null; fi
cat /proc/self/mountinfo > "$log/$name.selfmounts"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo alive; else echo gone; fi > "$log/$name.alive"
if [ -e "$root/$(sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' "$log/$name.stdin")" ]; then echo state-dir; fi > "$log/$name.statedir"
echo "$name" >> "$log/order"
"""


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    d = tmp_path / "hooklog"
    d.mkdir()
    return d


@pytest.fixture
def host_script(tmp_path: Path) -> Path:
    """The hook script, on the host only."""
    p = tmp_path / "host-only-hooks" / "log-hook"
    p.parent.mkdir()
    p.write_text(SCRIPT)
    p.chmod(0o755)
    return p


@pytest.fixture
def leftovers(cid: str) -> Any:
    yield
    remove_cgroups(cid)


def hooked_bundle(rt: Runtime, make_bundle: MakeBundle, logdir: Path, host_script: Path,
                  copies: int = 1, args: list[str] | None = None) -> Path:
    """A bundle with `copies` logging hooks of each kind (named kind#i)."""
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["mounts"].append({"destination": "/hooklog", "type": "bind", "source": str(logdir),
                              "options": ["rbind"]})
        cfg["root"]["readonly"] = False
        bundle = str(logdir.parent / "bundle")
        hooks: dict[str, list[dict[str, Any]]] = {}
        for kind in ALL:
            hooks[kind] = []
            for i in range(copies):
                name = kind if copies == 1 else f"{kind}#{i}"
                if kind == "startContainer":
                    hooks[kind].append({"path": "/container-only-hook",
                                        "args": ["hook", "/hooklog", name, bundle, str(rt.root)]})
                else:
                    hooks[kind].append({"path": str(host_script),
                                        "args": ["hook", str(logdir), name, bundle, str(rt.root)]})
        cfg["hooks"] = hooks

    bundle = make_bundle(args or ["sh", "-c", "cat /hooklog/order > /hooklog/seen-by-process; "
                                              "echo process >> /hooklog/order; exec sleep 30"],
                         mutate=mutate)
    assert bundle == logdir.parent / "bundle"
    hook = bundle / "rootfs" / "container-only-hook"
    hook.write_text(SCRIPT)
    hook.chmod(0o755)
    assert not Path("/container-only-hook").exists()
    return bundle


def order(logdir: Path) -> list[str]:
    try:
        return (logdir / "order").read_text().split()
    except FileNotFoundError:
        return []


def seen(logdir: Path, name: str, what: str) -> str:
    try:
        return (logdir / f"{name}.{what}").read_text().strip()
    except FileNotFoundError:
        return ""


def ns_of(logdir: Path, name: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in seen(logdir, name, "ns").splitlines())


def ns_of_pid(pid: int | str) -> dict[str, str]:
    return {ns: os.readlink(f"/proc/{pid}/ns/{ns}") for ns in NS}


class Lifecycle:
    """create, start, delete with the hooks' log after each step."""

    def __init__(self, rt: Runtime, cid: str, bundle: Path, logdir: Path) -> None:
        must(create(rt, bundle, cid))
        self.pid = int(rt.state(cid)["pid"])
        self.container_ns = ns_of_pid(self.pid)
        self.after_create = order(logdir)
        must(rt("start", cid))
        self.after_start = order(logdir)
        wait_for(lambda: "process" in order(logdir), what="the container's process")
        must(rt("kill", cid, "KILL"))
        wait_for(lambda: not alive(self.pid), what="the container's process to die")
        self.before_delete = order(logdir)
        must(rt("delete", cid))
        self.after_delete = order(logdir)


@pytest.fixture
def lifecycle(rt: Runtime, cid: str, make_bundle: MakeBundle, logdir: Path, host_script: Path,
              leftovers: None) -> Lifecycle:
    return Lifecycle(rt, cid, hooked_bundle(rt, make_bundle, logdir, host_script), logdir)


# ---------------------------------------------------------------- path, timeout

@pytest.mark.spec("config-hooks-path-1")
def test_relative_hook_path_refused(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """A relative path is refused, even where it would name an executable
    (here: in the bundle, the cwd of runtime-namespace hooks)."""
    bundle = make_bundle(["true"], mutate=lambda c: c.__setitem__(
        "hooks", {"createRuntime": [{"path": "relhook"}]}))
    marker = bundle / "relhook-ran"
    (bundle / "relhook").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (bundle / "relhook").chmod(0o755)
    create_refused(rt, bundle, cid)
    assert not marker.exists(), "the relative hook path was run"


@pytest.mark.spec("config-hooks-timeout-1")
@pytest.mark.parametrize("timeout", [0, -1])
def test_timeout_not_above_zero_refused(rt: Runtime, cid: str, make_bundle: MakeBundle, timeout: int) -> None:
    bundle = make_bundle(["true"], mutate=lambda c: c.__setitem__(
        "hooks", {"createRuntime": [{"path": "/bin/true", "timeout": timeout}]}))
    create_refused(rt, bundle, cid)


# ---------------------------------------------------------------- order, state

@pytest.mark.spec("config-hooks-order-1")
@pytest.mark.usefixtures("leftovers")
def test_hooks_called_in_listed_order(rt: Runtime, cid: str, make_bundle: MakeBundle, logdir: Path,
                                      host_script: Path) -> None:
    Lifecycle(rt, cid, hooked_bundle(rt, make_bundle, logdir, host_script, copies=3), logdir)
    got = order(logdir)
    for kind in ALL:
        assert [n for n in got if n.startswith(kind + "#")] == [f"{kind}#{i}" for i in range(3)], got


# The container's current state when each kind runs (runtime.md "State" and
# "Lifecycle"): being created until `create` returns, created until the
# program runs, running after it, stopped once it is gone.
STATUS = {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
          "startContainer": "created", "poststart": "running", "poststop": "stopped"}


@pytest.mark.spec("config-hooks-state-1")
def test_state_on_stdin(rt: Runtime, cid: str, lifecycle: Lifecycle, logdir: Path) -> None:
    """Each hook gets the state (valid by state-schema.json) of the container
    at the time it runs: its id and bundle, and the status of that step."""
    for kind in ALL:
        state = json.loads(seen(logdir, kind, "stdin"))
        check_schema(state)
        assert state["id"] == cid, kind
        assert state["bundle"] == str(logdir.parent / "bundle"), kind
        assert state["status"] == STATUS[kind], (kind, state)


@pytest.mark.spec("config-hooks-state-1", "runtime-state-5")
def test_runtime_namespace_hooks_get_the_pid_seen_by_the_runtime(lifecycle: Lifecycle, logdir: Path) -> None:
    """runtime.md "State", pid: "For hooks executed in the runtime namespace,
    it is the pid as seen by the runtime": the host pid of the container process."""
    for kind in ("prestart", "createRuntime", "poststart"):
        assert json.loads(seen(logdir, kind, "stdin"))["pid"] == lifecycle.pid, kind


@pytest.mark.spec("config-hooks-state-1", "runtime-state-5")
def test_container_namespace_hooks_get_the_pid_seen_by_the_container(
        lifecycle: Lifecycle, logdir: Path) -> None:
    """runtime.md "State", pid: "For hooks executed in the container namespace,
    it is the pid as seen by the container": createContainer and
    startContainer run in the container's new pid namespace, where the
    container process is pid 1 (the host pid means nothing there)."""
    assert lifecycle.container_ns["pid"] != ns_of_pid("self")["pid"]
    for kind in ("createContainer", "startContainer"):
        assert json.loads(seen(logdir, kind, "stdin"))["pid"] == 1, kind


# ---------------------------------------------------------------- create-time hooks

def config_mounts_made(mountinfo: str, bundle: Path) -> None:
    """The config's mounts are in place under the (not yet pivoted) rootfs:
    the runtime environment was created "according to the configuration in
    config.json" (mount points are seen from the host's root, before pivot_root)."""
    points = {line.split()[4] for line in mountinfo.splitlines() if len(line.split()) > 4}
    rootfs = os.path.realpath(bundle / "rootfs")
    for dest in ("/proc", "/dev", "/dev/pts", "/sys", "/hooklog"):
        assert rootfs + dest in points, (dest, sorted(p for p in points if p.startswith(rootfs)))


@pytest.mark.spec("config-hooks-prestart-1", "config-hooks-createruntime-1")
def test_prestart_and_create_runtime_during_create_before_pivot(lifecycle: Lifecycle, logdir: Path) -> None:
    host_ns = ns_of_pid("self")
    for kind in ("prestart", "createRuntime"):
        assert kind in lifecycle.after_create, (kind, lifecycle.after_create)
        assert seen(logdir, kind, "pivot").splitlines()[0] == "before-pivot", kind
        # the environment exists: the container's namespaces and mounts were made before the hook ran
        assert lifecycle.container_ns["net"] != host_ns["net"], kind
        config_mounts_made(seen(logdir, kind, "pidmounts"), logdir.parent / "bundle")


@pytest.mark.spec("config-hooks-prestart-2")
def test_prestart_before_create_runtime(lifecycle: Lifecycle) -> None:
    got = lifecycle.after_delete
    assert got.index("prestart") < got.index("createRuntime"), got


@pytest.mark.spec("config-hooks-createcontainer-1")
def test_create_container_during_create_before_pivot(lifecycle: Lifecycle, logdir: Path) -> None:
    assert "createContainer" in lifecycle.after_create, lifecycle.after_create
    # in the container's mount namespace, before pivot_root: the host's tree is its root still
    assert "own-root-sees-bundle" in seen(logdir, "createContainer", "pivot")
    # after the environment was created: the config's mounts are in place
    config_mounts_made(seen(logdir, "createContainer", "selfmounts"), logdir.parent / "bundle")


@pytest.mark.spec("config-hooks-createcontainer-2")
def test_create_container_after_create_runtime(lifecycle: Lifecycle) -> None:
    got = lifecycle.after_delete
    assert got.index("createRuntime") < got.index("createContainer"), got


@pytest.mark.spec("config-hooks-createcontainer-3", "config-hooks-createcontainer-4")
def test_create_container_namespace(lifecycle: Lifecycle, logdir: Path) -> None:
    """Its path is a host-only file (it ran), and it ran in the container's namespaces."""
    assert "createContainer" in lifecycle.after_delete
    got = ns_of(logdir, "createContainer")
    for ns in ("mnt", "net", "uts", "ipc", "pid"):
        assert got[ns] == lifecycle.container_ns[ns], (ns, got[ns], lifecycle.container_ns[ns])


# ---------------------------------------------------------------- start-time hooks

@pytest.mark.spec("config-hooks-startcontainer-1")
def test_start_container_before_the_process(lifecycle: Lifecycle, logdir: Path) -> None:
    assert "startContainer" not in lifecycle.after_create
    assert "startContainer" in lifecycle.after_start
    assert "startContainer" in (logdir / "seen-by-process").read_text().split()


@pytest.mark.spec("config-hooks-startcontainer-2", "config-hooks-startcontainer-3")
def test_start_container_namespace(lifecycle: Lifecycle, logdir: Path) -> None:
    """Its path exists only in the rootfs (it ran), and it ran in the container's namespaces."""
    assert "startContainer" in lifecycle.after_delete
    got = ns_of(logdir, "startContainer")
    for ns in ("mnt", "net", "uts", "ipc", "pid"):
        assert got[ns] == lifecycle.container_ns[ns], ns


@pytest.mark.spec("config-hooks-poststart-1")
def test_poststart_after_the_process_before_start_returns(lifecycle: Lifecycle, logdir: Path) -> None:
    assert "poststart" not in lifecycle.after_create, lifecycle.after_create
    assert "poststart" in lifecycle.after_start, lifecycle.after_start
    # the container process had executed the user-specified program
    # (the user's program: sh -c ..., or the sleep it execs)
    cmd = seen(logdir, "poststart", "cmdline").split()
    assert cmd[:2] == ["sh", "-c"] or cmd == ["sleep", "30"], cmd


@pytest.mark.spec("config-hooks-poststop-1")
def test_poststop_after_delete_before_it_returns(lifecycle: Lifecycle, logdir: Path) -> None:
    assert "poststop" not in lifecycle.before_delete
    assert "poststop" in lifecycle.after_delete
    assert seen(logdir, "poststop", "alive") == "gone"
    assert seen(logdir, "poststop", "statedir") == "", "the container's state was still there"


@pytest.mark.spec("config-hooks-prestart-3", "config-hooks-prestart-4", "config-hooks-createruntime-2",
                  "config-hooks-createruntime-3", "config-hooks-poststart-2", "config-hooks-poststart-3",
                  "config-hooks-poststop-2", "config-hooks-poststop-3")
def test_runtime_namespace_hooks(lifecycle: Lifecycle, logdir: Path) -> None:
    """Their path is a host-only file (they ran), and they ran in the runtime's namespaces."""
    host_ns = ns_of_pid("self")
    for kind in RUNTIME_NS:
        assert kind in lifecycle.after_delete, (kind, lifecycle.after_delete)
        assert ns_of(logdir, kind) == host_ns, kind
