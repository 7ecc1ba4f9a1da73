"""`features`: what this build implements, in the runtime-spec features.md
format. Lists only what is really applied."""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyruntime.cli import Globals


def features() -> dict[str, Any]:
    from pyruntime import SPEC_VERSION, __version__, seccomp
    from pyruntime.capabilities import NAMES
    from pyruntime.namespaces import FLAGS
    from pyruntime.rootfs.mountopts import ALL_OPTIONS

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": list(ALL_OPTIONS),
        "linux": {
            "namespaces": sorted(FLAGS),
            "capabilities": list(NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False, "rdma": True},
            "seccomp": seccomp.features(),
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {"org.opencontainers.pyruntime.version": __version__},
    }


def main(g: Globals, argv: list[str]) -> int:
    sys.stdout.write(json.dumps(features(), indent=4) + "\n")
    return 0
