"""The command line of `pyruntime-nvidia-hook` (also installed as
`nvidia-container-runtime-hook`, the name Docker's --gpus looks up on PATH).

  pyruntime-nvidia-hook [OPTIONS] [prestart|createRuntime]    as an OCI hook (state on stdin)
  pyruntime-nvidia-hook [OPTIONS] poststart|poststop          accepted, nothing to do
  pyruntime-nvidia-hook [OPTIONS] info                        what discovery finds, as JSON
  pyruntime-nvidia-hook cdi generate [OPTIONS] [--output F] [--format json|yaml]
  pyruntime-nvidia-hook cdi-hook create-symlinks --link T::L ... | update-ldcache --folder D ...
                                 | disable-device-node-modification [--dev-root D]

Options (or their environment variables, which Docker passes to the hook
from dockerd's own environment):
  --driver-root R   PYRUNTIME_NVIDIA_DRIVER_ROOT  where the driver's files are (/)
  --dev-root D      PYRUNTIME_NVIDIA_DEV_ROOT     where its /dev and /proc/driver/nvidia are (R)
  --ldconfig P      PYRUNTIME_NVIDIA_LDCONFIG     the host's ldconfig (/sbin/ldconfig.real or /sbin/ldconfig)
  --no-cgroups      PYRUNTIME_NVIDIA_NO_CGROUPS=1 leave the device cgroup alone
  --debug F         PYRUNTIME_NVIDIA_DEBUG        append what it does to file F
Exit status 0, or 1 with one line on stderr naming what was wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict

from hooks.nvidia.errors import HookError

PROG = "pyruntime-nvidia-hook"
WORK_STAGES = ("prestart", "createRuntime")
NOOP_STAGES = ("poststart", "poststop")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="NVIDIA GPUs for OCI containers (docs/NVIDIA.md)")
    env = os.environ.get
    p.add_argument("--driver-root", default=env("PYRUNTIME_NVIDIA_DRIVER_ROOT", "/"))
    p.add_argument("--dev-root", default=env("PYRUNTIME_NVIDIA_DEV_ROOT"))
    p.add_argument("--ldconfig", default=env("PYRUNTIME_NVIDIA_LDCONFIG"))
    p.add_argument("--no-cgroups", action="store_true", default=env("PYRUNTIME_NVIDIA_NO_CGROUPS") == "1")
    p.add_argument("--debug", default=env("PYRUNTIME_NVIDIA_DEBUG"))
    p.add_argument("command", nargs="?", default="prestart")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _logger(path: str | None, quiet: bool = False):  # type: ignore[no-untyped-def]
    def log(msg: str) -> None:
        if msg.startswith(("warning", "missing")) and not quiet:
            print(f"{PROG}: {msg}", file=sys.stderr)
        if path:
            with open(path, "a") as f:
                f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [{os.getpid()}] {msg}\n")
    return log


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    log = _logger(args.debug, quiet=True)
    try:
        return _dispatch(args, log)
    except HookError as e:
        log(f"error: {e.msg}")
        print(f"{PROG}: {e.msg}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, log) -> int:  # type: ignore[no-untyped-def]
    cmd = args.command
    if cmd in WORK_STAGES:
        from hooks.nvidia.hook import Settings, run

        s = Settings(args.driver_root, args.dev_root, args.ldconfig, not args.no_cgroups, log)
        log(run(sys.stdin.buffer.read(), s))
        return 0
    if cmd in NOOP_STAGES:
        return 0
    if cmd in ("createContainer", "startContainer"):
        raise HookError(f"{cmd}: run this hook as prestart or createRuntime (it works from the "
                        f"runtime's namespaces, before pivot_root)")
    if cmd == "info":
        from hooks.nvidia.driver import discover

        drv = discover(args.driver_root, args.dev_root, os.environ.get("PATH"))
        print(json.dumps(asdict(drv), indent=2))
        return 0
    if cmd == "cdi":
        return _cdi(args)
    if cmd == "cdi-hook":
        return _cdi_hook(args)
    raise HookError(f"unknown command {cmd!r} (want prestart, createRuntime, info, cdi generate, cdi-hook)")


def _cdi(args: argparse.Namespace) -> int:
    p = argparse.ArgumentParser(prog=f"{PROG} cdi generate")
    p.add_argument("what", choices=["generate"])
    p.add_argument("--driver-root", default=args.driver_root)
    p.add_argument("--dev-root", default=args.dev_root)
    p.add_argument("--output", default=None)
    p.add_argument("--format", choices=["json", "yaml"], default=None)
    p.add_argument("--hook-path", default=None, help="the hook the spec's createContainer hooks run "
                   "(default: this program)")
    p.add_argument("--kind", default="nvidia.com/gpu")
    a = p.parse_args(args.rest)
    from hooks.nvidia import cdi
    from hooks.nvidia.driver import discover

    drv = discover(a.driver_root, a.dev_root, os.environ.get("PATH"))
    hook = a.hook_path or _self_path()
    text = cdi.write(cdi.generate(drv, hook, a.kind), a.output, a.format)
    sys.stdout.write(text)
    return 0


def _self_path() -> str:
    p = sys.argv[0]
    if "/" not in p:
        import shutil

        p = shutil.which(p) or p
    return os.path.abspath(p)


def _cdi_hook(args: argparse.Namespace) -> int:
    p = argparse.ArgumentParser(prog=f"{PROG} cdi-hook")
    p.add_argument("what", choices=["create-symlinks", "update-ldcache", "disable-device-node-modification"])
    p.add_argument("--link", action="append", default=[])
    p.add_argument("--folder", action="append", default=[])
    p.add_argument("--dev-root", default=args.dev_root or args.driver_root)
    p.add_argument("--ldconfig", default=args.ldconfig)
    a = p.parse_args(args.rest)
    from hooks.nvidia import cdi

    stdin = sys.stdin.buffer.read()
    if a.what == "create-symlinks":
        cdi.create_symlinks(stdin, a.link)
    elif a.what == "update-ldcache":
        cdi.update_ldcache(stdin, a.folder, a.ldconfig)
    else:
        cdi.cover_proc(stdin, a.dev_root)
    return 0


def legacy_main() -> int:
    """`nvidia-container-runtime-hook prestart`, as Docker's --gpus runs it."""
    return main()


if __name__ == "__main__":
    sys.exit(main())
