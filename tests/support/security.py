"""Helpers for the security tests (tests/integration/test_security_*.py):
static attack probes, a private copy of the runtime under test (so an
attack that succeeds overwrites a copy, never the host's runtime), parsing
the probes' `key=value` report lines, and recording what each attack
observed for docs/SECURITY.md (scripts/security_table.py reads the
"observed" property of each test from pytest's junit XML).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.isolation import PROBES_DIR

Observe = Callable[[str, object], None]  # pytest's record_property


def build_static(name: str, out_dir: Path, *flags: str) -> Path:
    """Compile tests/support/probes/<name>.c statically (extra gcc flags)."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("gcc is needed to build the static probes")
    out = out_dir / name
    if not out.exists():
        subprocess.run([cc, "-static", "-O1", *flags, "-o", str(out), str(PROBES_DIR / f"{name}.c")],
                       check=True, capture_output=True, text=True)
    return out


def errname(value: str) -> str:
    """'-13' -> 'EACCES', 'ok' -> 'ok' (the probes print -errno)."""
    if value.lstrip("-").isdigit() and value.startswith("-"):
        return errno.errorcode.get(-int(value), value)
    return value


def report_lines(text: str, prefix: str) -> list[dict[str, str]]:
    """The probe lines starting with prefix, as {key: value} (values up to the next space)."""
    found = []
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            fields = {}
            for word in line[len(prefix) + 1:].split(" "):
                k, sep, v = word.partition("=")
                if sep:
                    fields[k] = v
            found.append(fields)
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class PrivateRuntime:
    """A runtime command whose executable is a private copy: `path` is what
    to run, `exe` the copied executable (for pyruntime: the interpreter)."""

    path: str
    exe: Path

    def target(self) -> str:
        """'dev:ino' of the copy, as fakeld's PYRT_TARGET wants it."""
        st = os.stat(self.exe)
        return f"{st.st_dev}:{st.st_ino}"


def private_runtime(runtime_path: str, is_pyruntime: bool, dest: Path,
                    call: str = "main()") -> PrivateRuntime:
    """Copy the runtime's executable into dest. pyruntime: its interpreter,
    with a launcher like bin/pyruntime that runs the installed package with
    the copy (`call` lets a control test call main(sys.argv[1:]), which skips
    the sealed re-exec); runc: the binary itself."""
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o755)
    if not is_pyruntime:
        exe = dest / Path(runtime_path).name
        shutil.copy2(os.path.realpath(runtime_path), exe)
        return PrivateRuntime(str(exe), exe)
    bindir = Path(runtime_path).parent
    interp = Path(os.path.realpath(bindir / "python3"))
    exe = dest / "python3"
    shutil.copy2(interp, exe)
    site = bindir.parent / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    launcher = dest / "pyruntime"
    launcher.write_text(
        "#!/bin/sh\n"
        f"exec {exe} -I -S -c 'import sys; sys.argv[0] = \"pyruntime\"; "
        f"sys.path.append(\"{site}\"); from pyruntime.cli import main; sys.exit({call})' \"$@\"\n")
    launcher.chmod(0o755)
    return PrivateRuntime(str(launcher), exe)


def interpreter_for(uid: int, gid: int, runtime_path: str) -> str | None:
    """An interpreter the user uid/gid may run for pyruntime: the venv's own
    (when every directory above it is searchable by others), else the
    system's python of the same version (the venv's site-packages is
    world-readable; the compiled modules are for this version), else None."""
    venv_python = os.path.realpath(Path(runtime_path).parent / "python3")
    candidates = [venv_python, f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"]
    for c in candidates:
        # through sh, as the launcher does (setpriv itself may still reach a path root can)
        p = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                            "/bin/sh", "-c", '"$0" -I -S -c pass', c], capture_output=True, timeout=30)
        if p.returncode == 0:
            return c
    return None


def unprivileged_launcher(runtime_path: str, interpreter: str, dest: Path) -> str:
    """A launcher like bin/pyruntime that runs the installed package with `interpreter`."""
    site = Path(runtime_path).parent.parent / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" \
        / "site-packages"
    # an editable install's package is not in site-packages (a .pth that -S skips): its tree too
    import pyruntime
    tree = Path(pyruntime.__file__).parent.parent
    launcher = dest / "pyruntime"
    launcher.write_text(
        "#!/bin/sh\n"
        f"exec {interpreter} -I -S -c 'import sys; sys.argv[0] = \"pyruntime\"; "
        f"sys.path += [\"{site}\", \"{tree}\"]; from pyruntime.cli import main; sys.exit(main())' \"$@\"\n")
    launcher.chmod(0o755)
    return str(launcher)
