"""setuptools entry: everything is in setup.cfg; this file exists only because
cffi's `cffi_modules` keyword (compile pyruntime.syscalls._native at install)
cannot be given in setup.cfg or pyproject.toml, and for the launcher helper
pyruntime/_sealexec and pyruntime/_warm (executables, not Python extensions) built below."""

import os

from setuptools import setup
from setuptools.command.build_ext import build_ext

HELPERS = ("pyruntime/_sealexec", "pyruntime/_warm")


class BuildExt(build_ext):
    """Also compile the launcher's helpers pyruntime/_sealexec.c and _warm.c into
    executables (bin/pyruntime execs them: _sealexec for create/run/exec, _warm
    for state/start/kill/delete) with the extensions' compiler: into build_lib
    for a wheel, into the source tree with --inplace (pip -e)."""

    def run(self):
        super().run()
        if not hasattr(self.compiler, "compile"):  # no extensions: run() made no compiler
            from distutils.ccompiler import new_compiler
            from distutils.sysconfig import customize_compiler

            self.compiler = new_compiler(compiler=self.compiler)
            customize_compiler(self.compiler)
        for helper in HELPERS:
            out = helper if self.inplace else os.path.join(self.build_lib, helper)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            objs = self.compiler.compile([helper + ".c"], output_dir=self.build_temp,
                                         extra_postargs=["-O2", "-Wall"])
            self.compiler.link_executable(objs, os.path.basename(out), output_dir=os.path.dirname(out))
            os.chmod(out, 0o755)

    def get_outputs(self):
        return super().get_outputs() + [os.path.join(self.build_lib, h) for h in HELPERS]


setup(cmdclass={"build_ext": BuildExt},
      cffi_modules=["pyruntime/syscalls/_build.py:ffibuilder",
                    "pyruntime/syscalls/_seccomp_build.py:ffibuilder"])
