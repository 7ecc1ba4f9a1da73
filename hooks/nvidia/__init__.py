"""The NVIDIA GPU hook: GPU device nodes and the host's own driver libraries
in a container, the way NVIDIA's nvidia-container-runtime-hook does it, with
no NVIDIA software on the host besides the driver (docs/NVIDIA.md).

Layers, each a small module:

  request.py   the container's request (NVIDIA_* env) → Request        (pure)
  require.py   NVIDIA_REQUIRE_* expressions                              (pure)
  ldcache.py   the ld.so.cache file format                               (pure)
  driver.py    discovery on a driver root: version, GPUs, libraries, binaries, firmware, nodes
  nvml.py      CUDA version, arch, brand from the driver's own libraries (ctypes, in a child)
  plan.py      Request + Driver → Plan: what to bind, link, cover, allow (pure)
  inject.py    the Plan applied in the container's mount namespace (undone on error)
  devcgroup.py device cgroup: v1 devices.allow, v2 BPF program extended
  cdi.py       `cdi generate` (CDI spec for nvidia.com/gpu) and the createContainer helpers
  cli.py       the command line: `pyruntime-nvidia-hook [prestart|createRuntime|cdi ...]`
"""
