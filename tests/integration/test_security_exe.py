"""The CVE-2019-5736 class: the runtime's own executable (for pyruntime the
host's Python interpreter) and the libraries it maps (libpython, the cffi
modules, libseccomp, libc) must not be reachable for writing from a
container while `create`, `start` or `exec` runs.

Two attacks, each run against a private copy of the runtime under test
(tests/support/security.py), so that a successful attack overwrites the
copy and never the host's runtime:

- "#!/proc/self/exe": the container's program is a script whose
  interpreter is /proc/self/exe, so the kernel executes the runtime's
  executable as the container's process; the probe fakeld, planted as the
  rootfs's dynamic loader, runs inside it, holds /proc/self/exe with O_PATH
  and tries to re-open it for writing once the runtime has gone.
  pyruntime: the file is a sealed memfd (pyruntime/launch/sealed.py), writes
  fail with EPERM; runc 1.1.5: a read-only bind (EROFS) or a sealed memfd.
- A container process (procattack) stops the runtime's process when it
  appears in its pid namespace (during `exec`, or during a slow hook of a
  `create` that joins its pid namespace) and opens its /proc/<pid>/exe,
  map_files, root, cwd and fds: all refused (non-dumpable, PR_SET_DUMPABLE 0).

RUNTIME=/usr/sbin/runc runs the same attacks against runc.
"""

from __future__ import annotations

import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runtime
from tests.integration.probes import create, must, wait_for
from tests.support.isolation import describe, install_probe, start_detached, stdio_log
from tests.support.security import (
    Observe,
    PrivateRuntime,
    build_static,
    errname,
    private_runtime,
    report_lines,
    sha256,
)

MakeBundle = Callable[..., Path]

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="fakeld stands in for /lib64/ld-linux-x86-64.so.2 (x86_64)")


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("security-exe-probes")
    return {"fakeld": build_static("fakeld", d, "-nostdlib", "-fno-stack-protector", "-fno-builtin",
                                   "-no-pie"),
            "procattack": build_static("procattack", d)}


def _private(rt: Runtime, tmp_path: Path, call: str = "main()") -> tuple[Runtime, PrivateRuntime]:
    priv = private_runtime(rt.path, rt.name == "pyruntime", tmp_path / "private-runtime", call)
    return Runtime(priv.path, rt.root), priv


def _shebang_bundle(make_bundle: MakeBundle, probes: dict[str, Path], args: list[str],
                    env: list[str] | None = None) -> Path:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["env"] += env or []

    b = make_bundle(args, mutate=mutate)
    lib64 = b / "rootfs" / "lib64"
    lib64.mkdir(exist_ok=True)
    (lib64 / "ld-linux-x86-64.so.2").write_bytes(probes["fakeld"].read_bytes())
    (lib64 / "ld-linux-x86-64.so.2").chmod(0o755)
    evil = b / "rootfs" / "bin" / "evil"
    evil.write_text("#!/proc/self/exe\n")
    evil.chmod(0o755)
    return b


def _fakeld_result(log: Path) -> tuple[dict[str, str], dict[str, str]]:
    """fakeld's "start" and "done" lines, once the latter is there."""
    wait_for(lambda: log.exists() and "fakeld: done" in log.read_text(errors="replace"), timeout=10,
             what=f"fakeld's report in {log}")
    text = log.read_text(errors="replace")
    return report_lines(text, "fakeld: start")[0], report_lines(text, "fakeld: done")[0]


def _exec_evil(prt: Runtime, priv: PrivateRuntime, cid: str, out: Path) -> tuple[dict[str, str], dict[str, str]]:
    """`exec --detach` /bin/evil (its stdout, fakeld's report, into out): the
    runtime exits at once, so nothing but the attacker runs its file after."""
    with open(out, "w") as f:
        p = subprocess.run(prt.cmd("exec", "--detach", "--env", f"PYRT_TARGET={priv.target()}", cid, "/bin/evil"),
                           stdin=subprocess.DEVNULL, stdout=f, stderr=f, timeout=30)
    assert p.returncode == 0, out.read_text()
    return _fakeld_result(out)


def _judge_shebang(priv: PrivateRuntime, before: str, start: dict[str, str], done: dict[str, str],
                   record_property: Observe) -> None:
    reached = start.get("exe", "?")
    write = done.get("write", done.get("reopen_w", "?"))
    record_property("observed", f"the process runs {'the runtime copy' if start.get('target') == 'yes' else reached}; "
                                f"re-open for writing: {errname(done.get('reopen_w', '?'))}"
                                + (f", write: {'EPERM' if write == '-1' else errname(write)}"
                                   if "write" in done else ""))
    assert sha256(priv.exe) == before, f"the runtime's executable was overwritten: {start} {done}"
    assert done.get("write") in (None, "-1"), f"a write reached the runtime's executable: {done}"
    if start.get("target") == "yes":
        # the copy itself was reached: it must be read-only to the container (runc: a read-only bind)
        assert done.get("reopen_w") != "ok", done


def test_exec_shebang_proc_self_exe_cannot_overwrite_the_runtime(
        rt: Runtime, cid: str, make_bundle: MakeBundle, probes: dict[str, Path], tmp_path: Path,
        record_property: Observe) -> None:
    """exec of a "#!/proc/self/exe" script: the exec'd runtime executable is held and re-opened for writing"""
    prt, priv = _private(rt, tmp_path)
    b = _shebang_bundle(make_bundle, probes, ["sleep", "30"])
    start_detached(prt, b, cid)
    before = sha256(priv.exe)
    start, done = _exec_evil(prt, priv, cid, tmp_path / "exec.out")
    _judge_shebang(priv, before, start, done, record_property)


def test_init_shebang_proc_self_exe_cannot_overwrite_the_runtime(
        rt: Runtime, cid: str, make_bundle: MakeBundle, probes: dict[str, Path], tmp_path: Path,
        record_property: Observe) -> None:
    """create + start of a "#!/proc/self/exe" init: the runtime executable is held and re-opened for writing"""
    prt, priv = _private(rt, tmp_path)
    b = _shebang_bundle(make_bundle, probes, ["/bin/evil"])
    before = sha256(priv.exe)
    out = tmp_path / "init.out"
    must(create(prt, b, cid, stdout=out))
    must(prt("start", cid))
    start, done = _fakeld_result(out)
    _judge_shebang(priv, before, start, done, record_property)


def test_control_an_unsealed_interpreter_is_overwritten(
        rt: Runtime, cid: str, make_bundle: MakeBundle, probes: dict[str, Path], tmp_path: Path,
        record_property: Observe) -> None:
    """control: pyruntime without its sealed copy (main(argv) skips it) is overwritten by the same exec attack"""
    if rt.name != "pyruntime":
        pytest.skip("pyruntime's own control: proves the #!/proc/self/exe attack works without launch/sealed.py")
    prt, priv = _private(rt, tmp_path, call="main(sys.argv[1:])")
    b = _shebang_bundle(make_bundle, probes, ["sleep", "30"])
    start_detached(prt, b, cid)
    before = sha256(priv.exe)
    start, done = _exec_evil(prt, priv, cid, tmp_path / "exec.out")
    assert start["target"] == "yes" and done == {"reopen_w": "ok", "write": "ok"}, (start, done)
    assert sha256(priv.exe) != before
    assert priv.exe.read_bytes().startswith(b"PWNED!")
    record_property("observed", "without the sealed copy the interpreter copy is overwritten (the attack works)")
    must(rt("delete", "--force", cid))  # with the real runtime: the copy no longer runs


# ---------------------------------------------------------------- the runtime's live processes

RUNTIME_COMMS = ("pyrt:", "runc:", "runc")


def _runtime_attacks(text: str) -> list[dict[str, str]]:
    return [a for a in report_lines(text, "attack") if a.get("comm", "").startswith(RUNTIME_COMMS)]


def _judge_live(attacks: list[dict[str, str]], control: dict[str, str], record_property: Observe) -> None:
    assert control.get("exe_path") == "ok" and control.get("root") == "ok", \
        f"the probe cannot even reach an ordinary process: {control}"
    assert attacks, "no runtime process was caught"
    for a in attacks:
        for key in ("exe_path", "exe_w", "reopen_w", "map_r", "map_w", "root", "cwd", "fd_open"):
            assert a.get(key) != "ok", f"{key} of the runtime's process {a.get('comm')} was reachable: {a}"
    a = attacks[0]
    record_property("observed", f"{len(attacks)} runtime process(es) ({a['comm']}) stopped and attacked: "
                                f"exe {errname(a['exe_path'])}, map_files {_maps(a)}, "
                                f"root {errname(a['root'])}, fds {_fds(a)}")


def _maps(a: dict[str, str]) -> str:
    """/proc/PID/map_files: the listing's errno, nothing listed, or what opening gave."""
    if a["map_files"].startswith("-"):
        return errname(a["map_files"])
    return "lists nothing" if a["map_files"] == "0" else f"open for writing {errname(a['map_w'])}"


def _fds(a: dict[str, str]) -> str:
    """/proc/PID/fd: the listing's errno, or what opening an entry gave."""
    return errname(a["fds"]) if a["fds"].startswith("-") else errname(a["fd_open"])


def _attacker(rt: Runtime, make_bundle: MakeBundle, probes: dict[str, Path], cid: str,
              seconds: int) -> tuple[Path, int]:
    b = make_bundle(["procattack", "watch", str(seconds)], name="attacker")
    install_probe(probes["procattack"], b)
    pid = start_detached(rt, b, cid)
    wait_for(lambda: "ready" in stdio_log(b, cid), timeout=10, what="the attacker to be ready")
    return b, pid


def test_exec_process_cannot_be_reached_through_proc(
        rt: Runtime, cid: str, make_bundle: MakeBundle, probes: dict[str, Path],
        record_property: Observe) -> None:
    """exec: a container process stops the runtime's process in its pid namespace and opens its exe, map_files, root, fds"""
    b, _ = _attacker(rt, make_bundle, probes, cid, 20)
    for _ in range(20):
        p = rt("exec", cid, "/bin/true")
        assert p.returncode == 0, describe(p)
        if _runtime_attacks(stdio_log(b, cid)):
            break
    time.sleep(0.1)
    text = stdio_log(b, cid)
    _judge_live(_runtime_attacks(text), report_lines(text, "control")[0], record_property)


def test_create_joining_a_pid_namespace_cannot_be_reached_through_proc(
        rt: Runtime, cid: str, make_bundle: MakeBundle, probes: dict[str, Path],
        record_property: Observe) -> None:
    """create joining an attacker's pid namespace (a slow createRuntime hook): the init is stopped and its exe, map_files, root, fds opened"""
    b, apid = _attacker(rt, make_bundle, probes, cid, 20)
    victim = cid + "-victim"

    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
        c["linux"]["namespaces"].append({"type": "pid", "path": f"/proc/{apid}/ns/pid"})
        c["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "1"]}]}

    vb = make_bundle(["true"], mutate=mutate, name="victim")
    try:
        must(create(rt, vb, victim))
    finally:
        rt("delete", "--force", victim)
    text = stdio_log(b, cid)
    _judge_live(_runtime_attacks(text), report_lines(text, "control")[0], record_property)


def test_start_container_hook_cannot_reach_the_init_through_proc(
        rt: Runtime, cid: str, make_bundle: MakeBundle, probes: dict[str, Path],
        record_property: Observe) -> None:
    """a startContainer hook from the container's rootfs opens /proc/1 (the runtime's init) exe, map_files, root, fds"""
    def mutate(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = False
        c["hooks"] = {"startContainer": [{"path": "/bin/procattack",
                                          "args": ["procattack", "pid", "1", "/tmp/attack.txt"]}]}

    b = make_bundle(["true"], mutate=mutate)
    install_probe(probes["procattack"], b)
    run = rt("run", "--bundle", str(b), cid)
    assert run.returncode == 0, describe(run)
    text = (b / "rootfs" / "tmp" / "attack.txt").read_text()
    attacks = report_lines(text, "attack")
    assert len(attacks) == 1, text
    a = attacks[0]
    for key in ("exe_w", "reopen_w", "map_r", "map_w"):
        assert a.get(key) != "ok", f"{key} of the init was reachable: {a}"
    if a.get("exe_path") == "ok":
        # reachable only as a sealed copy, never the host's file
        assert a["exe"].startswith("/memfd:") or a["exe"] == "/", a
    record_property("observed", f"/proc/1 is {a['comm']}: exe {errname(a['exe_path'])} ({errname(a['exe'])}), "
                                f"map_files {_maps(a)}, root {errname(a['root'])}, "
                                f"fds {_fds(a)}")
