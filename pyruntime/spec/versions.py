"""Rules that changed between runtime-spec versions, chosen by the
`ociVersion` the bundle declares: config.md, "the version of the Open
Container Initiative Runtime Specification with which the bundle complies".

Callers write older versions (runc spec and containerd 1.6: "1.0.2-dev",
containerd 1.7: "1.1.0"), so a bundle gets the rules it was written for.
"""

from __future__ import annotations

_IDENT = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")


def _number(s: str) -> bool:
    return s.isdigit() and s.isascii() and (s == "0" or s[0] != "0")


def is_semver(v: str) -> bool:
    """SemVer 2.0.0 (config.md: ociVersion "MUST be in SemVer v2.0.0 format"):
    MAJOR.MINOR.PATCH, numbers without leading zeros; an optional -pre-release
    and +build, each dot-separated non-empty [0-9A-Za-z-] identifiers (a
    numeric pre-release identifier without leading zeros). No regex: this is
    on every create's path."""
    core, plus, build = v.partition("+")
    if plus and not all(p and set(p) <= _IDENT for p in build.split(".")):
        return False
    core, dash, pre = core.partition("-")
    if dash and not all(p and set(p) <= _IDENT and (not p.isdigit() or _number(p))
                        for p in pre.split(".")):
        return False
    nums = core.split(".")
    return len(nums) == 3 and all(_number(n) for n in nums)


def minor(oci_version: object) -> tuple[int, int]:
    """(major, minor) of "1.3.0", "1.0.2-dev", "1.3.0-rc.1"; (1, 0) when it
    cannot be read (spec.load has already refused a version not "1.")."""
    if not isinstance(oci_version, str):
        return (1, 0)
    parts = oci_version.split("-", 1)[0].split(".")
    try:
        return (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        return (1, 0)


def poststart_failure_stops(oci_version: object) -> bool:
    """runtime.md lifecycle step 9. Since 1.3.0: "If any poststart hook fails,
    the runtime MUST generate an error, stop the container". Up to 1.2: "the
    runtime MUST log a warning, but the remaining hooks and lifecycle continue
    as if the hook had succeeded"."""
    return minor(oci_version) >= (1, 3)
