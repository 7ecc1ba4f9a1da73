"""What a container asks for, read from its environment with NVIDIA's
documented semantics (nvidia-container-toolkit internal/config/image,
libnvidia-container src/cli/common.c):

NVIDIA_VISIBLE_DEVICES
  unset, empty or `void`  not a GPU container: the hook does nothing, unless
                          the image is a legacy CUDA image (CUDA_VERSION set,
                          NVIDIA_REQUIRE_CUDA unset) and the variable is unset,
                          which means `all`
  `none`                  the driver (libraries, nvidiactl) but no GPU
  `all`                   every GPU
  comma list              GPU indexes (0, 1), UUIDs (GPU-...), PCI bus ids
                          ([domain:]bus:device.function); anything else is an
                          error naming it. MIG devices (MIG-..., g:m) are
                          refused by name: this hook does not do MIG.
NVIDIA_DRIVER_CAPABILITIES
  comma list of compute, compat32, graphics, utility, video, display, ngx,
  or `all`; unset or empty: utility,compute (legacy image: all). An unknown
  name is an error naming it.
NVIDIA_REQUIRE_*  (not NVIDIA_REQUIRE_JETPACK)
  each value one requirement expression (require.py); a legacy image adds
  cuda>=<major.minor of CUDA_VERSION>. NVIDIA_DISABLE_REQUIRE true (Go's
  strconv.ParseBool: 1 t T true TRUE True) skips all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hooks.nvidia.errors import HookError

VISIBLE = "NVIDIA_VISIBLE_DEVICES"
CAPS = "NVIDIA_DRIVER_CAPABILITIES"
REQUIRE_PREFIX = "NVIDIA_REQUIRE_"
REQUIRE_JETPACK = "NVIDIA_REQUIRE_JETPACK"
DISABLE_REQUIRE = "NVIDIA_DISABLE_REQUIRE"
CUDA_VERSION = "CUDA_VERSION"

ALL_CAPABILITIES = ("compute", "compat32", "graphics", "utility", "video", "display", "ngx")
DEFAULT_CAPABILITIES = ("utility", "compute")
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}


@dataclass
class Request:
    """devices: None = all GPUs; [] = none; else the selectors as given."""
    devices: list[str] | None
    capabilities: frozenset[str]
    requirements: list[tuple[str, str]] = field(default_factory=list)  # (env var, expression)


def env_map(env: list[str] | None) -> dict[str, str]:
    """process.env as a dict; a later duplicate wins, as with execve's getenv."""
    out: dict[str, str] = {}
    for item in env or []:
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    return out


def is_legacy(env: dict[str, str]) -> bool:
    return bool(env.get(CUDA_VERSION)) and not env.get("NVIDIA_REQUIRE_CUDA")


def parse(env: dict[str, str]) -> Request | None:
    """The request, or None when this is not a GPU container."""
    legacy = is_legacy(env)
    devices = _devices(env, legacy)
    if devices == "void":
        return None
    return Request(None if devices == "all" else list(devices), _capabilities(env, legacy),
                   _requirements(env, legacy))


def _devices(env: dict[str, str], legacy: bool) -> list[str] | str:
    if VISIBLE not in env:
        return "all" if legacy else "void"
    items = [d.strip() for d in env[VISIBLE].split(",")]
    items = [d for d in items if d]
    if not items or "void" in items:
        return "void"
    if "all" in items:
        return "all"
    if "none" in items:
        if len(items) > 1:
            raise HookError(f"{VISIBLE}={env[VISIBLE]!r}: 'none' cannot be combined with devices")
        return []
    for d in items:
        check_selector(d)
    return items


def check_selector(d: str) -> None:
    """A device selector's form: an index, GPU-<uuid> or a PCI bus id."""
    if d.isdigit() or (d[:4].upper() == "GPU-" and len(d) > 4) or pci_id(d) is not None:
        return
    if d[:4].upper() == "MIG-" or (d.count(":") == 1 and all(p.isdigit() for p in d.split(":"))):
        raise HookError(f"{VISIBLE}: {d!r}: MIG devices are not supported by pyruntime's NVIDIA hook")
    raise HookError(f"{VISIBLE}: {d!r}: unknown device (want all, none, void, an index, "
                    f"a GPU-<uuid> or a PCI bus id)")


def pci_id(s: str) -> tuple[int, int, int, int] | None:
    """'0000:01:00.0', '01:00.0' or '00000000:01:00.0' → (domain, bus, device, function)."""
    head, dot, fn = s.rpartition(".")
    if not dot:
        return None
    parts = head.split(":")
    if len(parts) == 2:
        parts.insert(0, "0")
    if len(parts) != 3:
        return None
    try:
        dom, bus, dev, func = (int(p, 16) for p in (*parts, fn))
    except ValueError:
        return None
    if not all(parts) or not fn or bus > 0xFF or dev > 0x1F or func > 7:
        return None
    return dom, bus, dev, func


def _capabilities(env: dict[str, str], legacy: bool) -> frozenset[str]:
    raw = env.get(CAPS)
    if raw is None and legacy:
        return frozenset(ALL_CAPABILITIES)
    if not raw:
        return frozenset(DEFAULT_CAPABILITIES)
    caps: set[str] = set()
    for c in (c.strip() for c in raw.split(",")):
        if not c:
            continue
        if c == "all":
            return frozenset(ALL_CAPABILITIES)
        if c not in ALL_CAPABILITIES:
            raise HookError(f"{CAPS}={raw!r}: unknown driver capability {c!r} "
                            f"(want {', '.join(ALL_CAPABILITIES)} or all)")
        caps.add(c)
    return frozenset(caps)


def _requirements(env: dict[str, str], legacy: bool) -> list[tuple[str, str]]:
    if env.get(DISABLE_REQUIRE, "") in _TRUE:
        return []
    reqs = [(k, v) for k, v in sorted(env.items())
            if k.startswith(REQUIRE_PREFIX) and not k.startswith(REQUIRE_JETPACK) and v.strip()]
    if legacy:
        reqs.append((CUDA_VERSION, f"cuda>={_major_minor(env[CUDA_VERSION])}"))
    return reqs


def _major_minor(v: str) -> str:
    """CUDA_VERSION=11.8.0 → '11.8' (a 'v' prefix and a missing minor are allowed)."""
    parts = v.strip().removeprefix("v").split(".")
    major, minor = parts[0], parts[1] if len(parts) > 1 else "0"
    if not major.isdigit() or not minor.isdigit():
        raise HookError(f"{CUDA_VERSION}={v!r}: not a version (want major.minor[.patch])")
    return f"{int(major)}.{int(minor)}"
