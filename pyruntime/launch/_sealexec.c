/* _sealexec: start the interpreter from a sealed in-memory copy of itself
 * (the CVE-2019-5736 class; see pyruntime/launch/sealed.py for the attack).
 *
 *   _sealexec PYTHON ARG...   runs PYTHON ARG... from a sealed memfd copy
 *
 * _warm (the sh launcher's helper) execs this for a SEALED command it runs
 * itself (launch/commands.py); the installed C launcher (_launcher.c)
 * includes it; it does what launch/sealed.py's reexec_sealed() does, without
 * starting Python twice. The copy must look exactly like sealed.py's (memfd name
 * "pyruntime", all four seals) so that running_sealed() is True and Python
 * does not re-exec again. Whatever fails before the execveat() of the copy,
 * we exec PYTHON itself and Python's reexec_sealed() takes over (and
 * reports an error if it cannot seal either). Built by setup.py.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "_pylocale.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3+: the memfd is executable (vm.memfd_noexec) */
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

extern char **environ;

/* A sealed memfd holding a copy of the file at path, or -1. */
static int sealed_copy(const char *path)
{
    struct stat st;
    /* open() follows symlinks: the venv's python3 -> the real interpreter. */
    int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return -1;
    /* MFD_CLOEXEC: the fd never reaches the container (execveat of an ELF
     * from a close-on-exec fd works: the kernel has opened the file before
     * it closes the fds). Kernels before 6.3 reject MFD_EXEC with EINVAL. */
    int fd = memfd_create("pyruntime", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL)
        fd = memfd_create("pyruntime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || fstat(src, &st) < 0)
        goto fail;
    for (off_t left = st.st_size; left > 0;) {
        ssize_t n = sendfile(fd, src, NULL, (size_t)left);
        if (n <= 0)
            goto fail; /* n == 0: the file shrank under us */
        left -= n;
    }
    /* No write (F_SEAL_WRITE: even a new O_WRONLY open of /proc/<pid>/exe
     * gets EPERM on write), no resize, and no way to lift the seals. */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        goto fail;
    close(src);
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    close(src);
    return -1;
}

/* Exec argv[0] (the interpreter) with argv from a sealed copy of it; else
 * the file itself (its reexec_sealed() seals). Returns only if both fail. */
static void exec_sealed(char **argv)
{
    python_c_locale();
    int fd = sealed_copy(argv[0]);
    if (fd >= 0)
        /* fexecve(): argv[0] stays PYTHON, so Python finds its venv as before. */
        syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
    /* Not sealed: run the interpreter itself; its reexec_sealed() seals. */
    execvp(argv[0], argv);
}

#ifndef PYRT_LAUNCHER /* the launcher (_launcher.c) includes this file */
int main(int argc, char **argv)
{
    if (argc < 2)
        return 127;
    exec_sealed(argv + 1);
    return 127;
}
#endif
