"""The bootstrap: the first of pyruntime's code in every command's own
process (not in a worker of the warm server), imported by the launchers'
few lines of -c script (bin/pyruntime; the installed launcher embeds the same
lines: setup.py, _boot.h) once sys.path holds the package.

It restores what the launchers changed for a fast start (LC_ALL), makes a
SEALED command run from a sealed copy of the interpreter before the CLI is
imported (launch/sealed.py: a no-op when _sealexec started us), runs
cli.main(), then starts a warm server if the client found none
(PYRUNTIME_WARM_SPAWN, launch/spawn.py), and exits without the
interpreter's teardown.
"""

from __future__ import annotations

import gc
import os
import sys


def main() -> None:
    # A command lives milliseconds: the cyclic collector only costs (~6 % of a
    # `run` in perf profiles, collections triggered by imports).
    gc.disable()
    # Set by _warm when no warm server answered: start one when done.
    spawn = os.environ.pop("PYRUNTIME_WARM_SPAWN", None)
    # The launchers start Python with LC_ALL=C (launch/_pylocale.h): our
    # children (hooks, helpers) get the LC_ALL of the caller back.
    lc = os.environ.pop("PYRUNTIME_LC_ALL", None)
    if lc is not None:
        if lc[:1] == "=":
            os.environ["LC_ALL"] = lc[1:]
        else:
            os.environ.pop("LC_ALL", None)
    sys.argv[0] = "pyruntime"
    from pyruntime.launch.commands import SEALED

    if set(SEALED) & set(sys.argv[1:]):
        # CVE-2019-5736 class: these commands run from a sealed copy of the
        # interpreter. Started by _sealexec this is a no-op; else it re-execs,
        # before importing the CLI as that costs less.
        try:
            from pyruntime.launch.sealed import reexec_sealed

            reexec_sealed()
        except Exception:  # noqa: BLE001 - main() tries again and reports the error
            pass
    from pyruntime.cli import main as cli_main

    rc = cli_main()
    if spawn:
        try:
            from pyruntime.launch.spawn import spawn as spawn_server

            spawn_server(spawn)
        except Exception:  # noqa: BLE001 - only a missed speed-up
            pass
    # Skip the interpreter teardown (freeing every module: ~1-2 ms): everything
    # this process writes goes through os.write or is flushed here.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(rc)
