"""pyruntime's command line: global flags, then one command looked up in a
lazy table (each command's module is imported only when it runs, so
`state` never pays for what `create` needs). Every user error becomes one
log line and exit status 1.
"""

from __future__ import annotations

import os
import sys

from pyruntime import sigstate
from pyruntime.cli.flags import Flag, parse
from pyruntime.errors import PyruntimeError, UsageError
from pyruntime.launch.commands import SEALED
from pyruntime.log import log

COMMANDS = {
    "create": "create a container",
    "start": "executes the user defined process in a created container",
    "state": "output the state of a container",
    "kill": "kill sends the specified signal (default: SIGTERM) to the container's init process",
    "delete": "delete any resources held by the container often used with detached container",
    "run": "create and run a container",
    "exec": "execute new process inside the container",
    "list": "lists containers started by pyruntime with the given root",
    "spec": "create a new specification file",
    "features": "show the enabled features",
    "pause": "pause suspends all processes inside the container",
    "resume": "resumes all processes that have been previously paused",
    "ps": "ps displays the processes running inside a container",
    "update": "update container resource constraints",
    "events": "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
}

GLOBAL_FLAGS = [
    Flag("root", "str", default=None, help="root directory for storage of container state"),
    Flag("log", "str", default="", help="set the log file to write pyruntime logs to"),
    Flag("log-format", "str", default="text", help="set the log format ('text' (default), or 'json')"),
    Flag("debug", help="enable debug logging"),
    Flag("systemd-cgroup", help="enable systemd cgroup support"),
    Flag("criu", "str", default="criu", help="(ignored) path to criu"),
    Flag("rootless", "str", default="auto", help="ignore cgroup permission errors"),
    Flag("version", aliases=("v",), help="print the version"),
    Flag("help", aliases=("h",), help="show help"),
]


class Globals:
    def __init__(self, root: str, debug: bool, systemd_cgroup: bool) -> None:
        self.root = root
        self.debug = debug
        self.systemd_cgroup = systemd_cgroup


def version_text() -> str:
    from pyruntime import SPEC_VERSION, __version__

    # dockerd's `docker info`/`docker version` take the default runtime's
    # "commit:" line (moby parseRuncVersion: "runc version" or "commit:"); like
    # Debian's runc, the commit is the release
    return (f"pyruntime version {__version__}\ncommit: {__version__}\nspec: {SPEC_VERSION}\n"
            f"python: {sys.version.split()[0]}\n")


def usage() -> str:
    lines = ["usage: pyruntime [global options] command [command options] [arguments...]", "", "commands:"]
    lines += [f"   {n:<10} {d}" for n, d in COMMANDS.items()]
    lines += ["", "global options:"]
    lines += [f"   --{f.name:<16} {f.help}" for f in GLOBAL_FLAGS]
    return "\n".join(lines) + "\n"




def main(argv: list[str] | None = None) -> int:
    from_argv = argv is None  # the real command line (tests call main([...]) in-process)
    argv = sys.argv[1:] if argv is None else argv
    sigstate.for_own_process()
    try:
        g = parse(argv, GLOBAL_FLAGS, stop_at_positional=True)
        log.configure(g.get("log"), g.get("log-format"), bool(g.get("debug")))
        log.check_path()
        if g.get("log-format") not in ("text", "json"):
            raise UsageError(f"invalid log-format: {g.get('log-format')}")
        if g.get("version"):
            sys.stdout.write(version_text())
            return 0
        if g.get("help") or not g.args:
            sys.stdout.write(usage())
            return 0 if g.get("help") else 1
        name, rest = g.args[0], g.args[1:]
        if name not in COMMANDS:
            raise UsageError(f"No help topic for '{name}'")
        if from_argv and name in SEALED:
            # CVE-2019-5736 class: the container's processes are forks of this
            # one; their /proc/<pid>/exe must be a sealed copy (launch/sealed.py).
            from pyruntime.launch.sealed import reexec_sealed

            reexec_sealed()
        from pyruntime import rootless

        rootless.configure(g.get("rootless"))
        root = g.get("root") or os.environ.get("PYRUNTIME_ROOT")
        if not root:  # unprivileged: $XDG_RUNTIME_DIR/pyruntime, as runc (rootless.py)
            root = rootless.default_root()
            if root != "/run/pyruntime" and name in ("create", "run"):
                rootless.prepare_xdg_root(root)
        gl = Globals(os.path.abspath(root), bool(g.get("debug")), bool(g.get("systemd-cgroup")))
        # __import__ with a fromlist returns the submodule itself; the importlib
        # package would be one more import (~0.35 ms) on every command
        mod = __import__(f"pyruntime.cli.cmd_{name}", fromlist=["main"])
        code: int = mod.main(gl, rest)
        sys.stdout.flush()  # here, not at exit: a reader that went away is handled below
        return code
    except PyruntimeError as e:
        log.error(e.msg)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout closed by the reader (`pyruntime list | head -1`): nothing to
        # tell anyone; don't let the interpreter's exit-time flush complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        if not isinstance(e.filename, str):
            return _internal(e)
        # A path the caller gave or the host lacks: the path and the reason,
        # as runc's "open /x: no such file or directory" (where: with --debug).
        log.error(f"{e.filename}: {os.strerror(e.errno) if e.errno else e}")
        _debug_detail(e)
        return 1
    except Exception as e:  # an internal error: one line, the detail with --debug
        return _internal(e)


def _internal(e: Exception) -> int:
    from pyruntime.errors import internal_message

    log.error(internal_message(e))
    _debug_detail(e)
    return 1


def _debug_detail(e: Exception) -> None:
    if log.min_level == 0:
        import traceback

        traceback.print_exception(e)
