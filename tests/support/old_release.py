"""Install an older commit of this repository into a virtual environment of
its own, for the upgrade tests: `git archive` of the commit, a venv without
pip, and `pip install` from the archive with this venv's build tools
(setuptools, cffi: the compiled syscall module is built against the host's
headers, as at any install). Nothing is downloaded, and this repository's
own venv is not touched: the build sees only symlinks to the few packages it
needs (pip looking at a tree that holds a pyruntime could uninstall it).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_DEPS = ("pip", "setuptools", "_distutils_hack", "cffi", "pycparser", "_cffi_backend")


def has_commit(sha: str) -> bool:
    """False in a shallow clone without that history."""
    p = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{sha}^{{commit}}"],
                       capture_output=True)
    return p.returncode == 0


def install(sha: str, dest: Path) -> Path:
    """The old pyruntime's launcher, built under dest (reused when already
    built there: a marker is written last; a lock serialises builders)."""
    dest.mkdir(parents=True, exist_ok=True)
    venv = dest / "venv"
    launcher = venv / "bin" / "pyruntime"
    with open(dest / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dest / "built").exists():
            return launcher
        src = dest / "src"
        src.mkdir(exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", sha], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(venv)], check=True)
        site = Path(sysconfig.get_paths()["purelib"])
        deps = dest / "build-deps"
        deps.mkdir(exist_ok=True)
        for name in BUILD_DEPS:
            # with their metadata: setuptools finds its own commands and cffi's
            # `cffi_modules` keyword through entry points in *.dist-info
            for p in [site / name, *site.glob(f"{name}-*.dist-info"), *site.glob(f"{name}.*.so")]:
                if p.exists() and not (deps / p.name).exists():
                    (deps / p.name).symlink_to(p)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-build-isolation",
                        "--no-deps", "--no-index", "--ignore-installed", "--disable-pip-version-check",
                        str(src)], check=True, env=dict(os.environ, PYTHONPATH=str(deps)),
                       capture_output=True)
        # At run time the compiled module needs only cffi's backend.
        vsite = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        for so in site.glob("_cffi_backend*.so"):
            (vsite / so.name).symlink_to(so)
        (dest / "built").write_text(sha + "\n")
    return launcher
