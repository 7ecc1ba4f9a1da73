"""setuptools entry: everything is in setup.cfg; this file exists only because
cffi's `cffi_modules` keyword (compile pyruntime.syscalls._seccomp, the
libseccomp binding, at install) cannot be given in setup.cfg or
pyproject.toml, for the plain C extension pyruntime.syscalls._kernel (the
syscalls os lacks: a cffi module would load _cffi_backend on every create,
see _kernel.c), and for the launcher and its helpers pyruntime/launch/_sealexec
and pyruntime/launch/_warm (executables, not Python extensions) built below,
with the C header of the command table (pyruntime/launch/commands.py)."""

import os

import json
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from distutils.command.build_scripts import build_scripts  # setuptools has no subclass of its own

HELPERS = ("pyruntime/launch/_sealexec", "pyruntime/launch/_warm")


def _write_commands_h(directory):
    """_commands.h from the command table, with this source tree's package
    (stdlib imports only: no dependency needs to be installed to build)."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        from pyruntime.launch.commands import header
    finally:
        sys.path.pop(0)
    with open(os.path.join(directory, "_commands.h"), "w") as f:
        f.write(header())


def _compiler(name=None):
    from distutils.ccompiler import new_compiler
    from distutils.sysconfig import customize_compiler

    cc = new_compiler(compiler=name)
    customize_compiler(cc)
    return cc


class BuildExt(build_ext):
    """Also compile the launcher's helpers pyruntime/launch/_sealexec.c and
    _warm.c into executables (bin/pyruntime execs _warm for every command,
    which execs _sealexec for a SEALED one it runs itself) with the
    extensions' compiler: into build_lib for a wheel, into the source tree
    with --inplace (pip -e)."""

    def run(self):
        super().run()
        if not hasattr(self.compiler, "compile"):  # no extensions: run() made no compiler
            self.compiler = _compiler(self.compiler)
        with tempfile.TemporaryDirectory() as generated:
            _write_commands_h(generated)
            for helper in HELPERS:
                out = helper if self.inplace else os.path.join(self.build_lib, helper)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                objs = self.compiler.compile([helper + ".c"], output_dir=self.build_temp, include_dirs=[generated],
                                             extra_postargs=["-O2", "-Wall"])
                self.compiler.link_executable(objs, os.path.basename(out), output_dir=os.path.dirname(out))
                os.chmod(out, 0o755)

    def get_outputs(self):
        return super().get_outputs() + [os.path.join(self.build_lib, h) for h in HELPERS]


class BuildScripts(build_scripts):
    """The installed `pyruntime` is pyruntime/launch/_launcher.c compiled, not the sh
    script bin/pyruntime (no shell per command, ~0.7 ms): after the copy,
    replace it with the binary. Its Python bootstrap is bin/pyruntime's own
    -c script, written into a header, so the two launchers cannot drift."""

    def run(self):
        super().run()
        text = open("bin/pyruntime").read()
        boot = text.split("-c '", 1)[1].rsplit("' \"$@\"", 1)[0]
        out = os.path.join(self.build_dir, "pyruntime")
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "_boot.h"), "w") as f:
                f.write("static const char BOOT[] = " + json.dumps(boot) + ";\n")
            _write_commands_h(tmp)
            cc = _compiler()
            objs = cc.compile(["pyruntime/launch/_launcher.c"], output_dir=tmp,
                              include_dirs=[tmp, "pyruntime/launch"],
                              extra_postargs=["-O2", "-Wall"])
            if os.path.exists(out):
                os.unlink(out)
            cc.link_executable(objs, "pyruntime", output_dir=self.build_dir)
        os.chmod(out, 0o755)


setup(cmdclass={"build_ext": BuildExt, "build_scripts": BuildScripts},
      ext_modules=[Extension("pyruntime.syscalls._kernel", ["pyruntime/syscalls/_kernel.c"],
                             extra_compile_args=["-O2", "-Wall"])],
      cffi_modules=["pyruntime/syscalls/_seccomp_build.py:ffibuilder"])
