/* pyruntime: the installed command (setup.py builds it into the venv's bin/
 * in place of bin/pyruntime, the sh launcher it mirrors), so that no shell
 * starts on every command containerd runs (~0.7 ms each).
 *
 * Like bin/pyruntime it starts the venv's Python isolated and without site
 * (-I -S; `site` costs 10-20 ms) with the bootstrap script of bin/pyruntime
 * (taken from that file at build time: _boot.h, which imports
 * launch/boot.py), through _warm.c's warm_main: the SERVED commands of
 * launch/commands.py are offered to the warm server (launch/server.py), the
 * SEALED ones run from a sealed memfd copy of the interpreter (_sealexec.c;
 * CVE-2019-5736, launch/sealed.py).
 * The interpreter is python3 beside the name we were run by, else beside
 * our real path (a symlink elsewhere), else python3 from $PATH.
 */
#define _GNU_SOURCE
#define PYRT_LAUNCHER 1
#include "_sealexec.c"
#include "_warm.c"
#include "_boot.h" /* static const char BOOT[] */

static char py[4096];

static int python_beside(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || (size_t)(slash - path) + sizeof("/python3") > sizeof(py))
        return 0;
    memcpy(py, path, (size_t)(slash - path));
    strcpy(py + (slash - path), "/python3");
    return access(py, X_OK) == 0;
}

int main(int argc, char **argv)
{
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0)
        self[n] = 0;
    if (!python_beside(argv[0]) && !(n > 0 && python_beside(self)))
        strcpy(py, "python3");

    /* _sealexec's and _warm's argv: SELF PYTHON -I -S -c BOOT ARG... */
    char **av = calloc((size_t)argc + USER_ARGS + 1, sizeof(char *));
    if (!av)
        return 127;
    av[0] = argv[0];
    av[1] = py;
    av[2] = "-I";
    av[3] = "-S";
    av[4] = "-c";
    av[5] = (char *)BOOT;
    for (int i = 1; i < argc; i++)
        av[USER_ARGS - 1 + i] = argv[i];
    int ac = argc + USER_ARGS - 1;

    return warm_main(ac, av); /* _warm.c: returns only when the server ran the command */
}
