"""setuptools entry: everything is in setup.cfg; this file exists only because
cffi's `cffi_modules` keyword (compile pyruntime.syscalls._native at install)
cannot be given in setup.cfg or pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["pyruntime/syscalls/_build.py:ffibuilder",
                    "pyruntime/syscalls/_seccomp_build.py:ffibuilder"])
