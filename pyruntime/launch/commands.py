"""Which command gets which process: the one table the launchers and the
warm server read. Imported by the bootstrap (launch/boot.py) in every
command's process and by the server; setup.py writes it into the C header
_commands.h at build time (header()), for the installed launcher
(_launcher.c) and the warm client (_warm.c), so C and Python cannot drift.

- SEALED: the commands whose forks enter a container run from a sealed
  memfd copy of the interpreter (launch/sealed.py; CVE-2019-5736).
- SERVED: the commands the client offers the warm server (launch/server.py),
  which alone decides whether it takes one (Server.takes: `run` and `exec`
  in the foreground only, not with fds to hand over, ...). Never `create`,
  `run -d` or `exec -d`: what they leave behind must go to the caller's
  subreaper, and a worker's orphans go to init. A command that found no
  server starts one when it is done (launch/spawn.py).
- RELAYED: the served commands whose process waits for a container
  process and forwards the signals it gets to it: the client passes each
  signal it gets on to the worker.
- PRELOAD: what the server imports once, so that its workers import nothing.
- The global flags: which of cli.GLOBAL_FLAGS take a value, so that the
  client can find --root (the server's key) as the CLI will.
"""

from __future__ import annotations

SEALED = ("create", "run", "exec")
SERVED = ("state", "start", "kill", "delete", "run", "exec")
RELAYED = ("run", "exec")

# Everything the served commands import.
PRELOAD = ("pyruntime.cli", "pyruntime.cli.cmd_state", "pyruntime.cli.cmd_start", "pyruntime.cli.cmd_kill",
           "pyruntime.cli.cmd_delete", "pyruntime.lifecycle.start", "pyruntime.lifecycle.destroy",
           "pyruntime.state.store", "pyruntime.state.ids", "pyruntime.cgroups.factory", "pyruntime.cgroups.manager",
           "pyruntime.cgroups.v2", "pyruntime.cgroups.pending", "pyruntime.hooks", "pyruntime.notify_socket",
           "pyruntime.errors", "pyruntime.log", "pyruntime.rootless", "pyruntime.faults",
           "pyruntime.launch.identity", "pyruntime.launch.placement",
           # run and exec (served from a sealed server only)
           "pyruntime.cli.cmd_run", "pyruntime.cli.cmd_create", "pyruntime.lifecycle.run",
           "pyruntime.lifecycle.create", "pyruntime.cli.cmd_exec", "pyruntime.lifecycle.exec",
           "pyruntime.process.tenant", "select", "termios", "tty")

# Global flags that answer by themselves (print and exit): never served.
ANSWERING = ("version", "help")


def _c_strings(name: str, values: tuple[str, ...] | list[str]) -> str:
    import json

    return f"static const char *const {name}[] = {{{', '.join(json.dumps(v) for v in values)}, NULL}};\n"


def header() -> str:
    """The C header _commands.h (setup.py writes it at build time)."""
    from pyruntime.cli import GLOBAL_FLAGS

    valued = [f.name for f in GLOBAL_FLAGS if f.kind != "bool"]
    switches = [f.name for f in GLOBAL_FLAGS if f.kind == "bool" and f.name not in ANSWERING]
    return ("/* Generated from pyruntime/launch/commands.py by setup.py: do not edit. */\n"
            + _c_strings("SEALED_COMMANDS", SEALED) + _c_strings("SERVED_COMMANDS", SERVED)
            + _c_strings("RELAYED_COMMANDS", RELAYED)
            + _c_strings("VALUE_FLAGS", valued) + _c_strings("SWITCH_FLAGS", switches))


def command_of(args: list[str]) -> tuple[str, list[str]] | None:
    """The command word and its arguments in a command line, as cli.main
    parses it; None where the global flags are wrong or answer by themselves."""
    from pyruntime.cli import GLOBAL_FLAGS
    from pyruntime.cli.flags import parse
    from pyruntime.errors import UsageError

    try:
        g = parse(args, GLOBAL_FLAGS, stop_at_positional=True)
    except UsageError:
        return None
    if any(g.get(a) for a in ANSWERING) or not g.args:
        return None
    return g.args[0], g.args[1:]
