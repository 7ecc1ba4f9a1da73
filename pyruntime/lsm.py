"""AppArmor and SELinux fields (process.apparmorProfile, process.selinuxLabel,
linux.mountLabel).

On a host without the LSM, runc fails such a container (it writes the
profile to /proc/self/attr/exec and gets EINVAL; it refuses an SELinux label
outright; the mount label makes the /dev mount fail). pyruntime refuses the
same configs, before doing anything, with a message that says why. On a host
where the LSM is enabled these fields are not implemented yet, which is also
an error naming the field: a profile is never silently dropped.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.spec.load import Config


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


def check(cfg: Config) -> None:
    proc = cfg.process or {}
    if proc.get("apparmorProfile"):
        field = "process.apparmorProfile"
        if not apparmor_enabled():
            raise cfg.err(field, f"AppArmor is not enabled on this host, cannot apply profile "
                                 f"{proc['apparmorProfile']!r}")
        raise cfg.err(field, "AppArmor profiles are not supported by this version of pyruntime")
    for field, value in (("process.selinuxLabel", proc.get("selinuxLabel")),
                         ("linux.mountLabel", cfg.linux.get("mountLabel"))):
        if value:
            if not selinux_enabled():
                raise cfg.err(field, "selinux label is specified in config, but selinux is disabled "
                                     "or not supported")
            raise cfg.err(field, "SELinux labels are not supported by this version of pyruntime")
