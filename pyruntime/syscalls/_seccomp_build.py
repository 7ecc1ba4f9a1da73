"""cffi builder for pyruntime.syscalls._seccomp, compiled at install time
(API mode) and linked with libseccomp (Debian: libseccomp-dev).

A separate module from _native so that only a config with linux.seccomp
loads libseccomp.

libseccomp is used in `create` (and `exec`), before any fork, to turn the profile into a
BPF program (rules, architectures, attributes), which is exported and kept
as bytes. The container's init then loads those bytes with seccomp(2)
itself: no libseccomp code (no malloc, no BPF generation, no free that might
munmap) runs in the container, and `pyrt_seccomp_load_exec` is one C call
that installs the filter and calls execve, so no Python-made syscall falls
between the two. With SCMP_ACT_NOTIFY, `pyrt_seccomp_load_listener` is the one
C call that installs the filter and passes its listener fd to the parent.
"""

from cffi import FFI

ffibuilder = FFI()

ffibuilder.cdef(
    """
    typedef void *scmp_filter_ctx;
    struct scmp_arg_cmp {
        unsigned int arg;
        int op;
        uint64_t datum_a;
        uint64_t datum_b;
    };
    struct scmp_version { unsigned int major; unsigned int minor; unsigned int micro; };

    scmp_filter_ctx seccomp_init(uint32_t def_action);
    void seccomp_release(scmp_filter_ctx ctx);
    uint32_t seccomp_arch_resolve_name(const char *arch_name);
    uint32_t seccomp_arch_native(void);
    int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
    int seccomp_attr_set(scmp_filter_ctx ctx, int attr, uint32_t value);
    int seccomp_syscall_resolve_name(const char *name);
    int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
    int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                               unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
    unsigned int seccomp_api_get(void);
    const struct scmp_version *seccomp_version(void);

    /* Our helpers. */
    long pyrt_seccomp_export(scmp_filter_ctx ctx, unsigned char *buf, size_t len);
    int pyrt_seccomp_load(const unsigned char *prog, size_t len, unsigned int flags);
    int pyrt_seccomp_load_exec(const unsigned char *prog, size_t len, unsigned int flags,
                               const char *path, char *const argv[], char *const envp[],
                               int *stage);
    int pyrt_seccomp_load_listener(const unsigned char *prog, size_t len, unsigned int flags,
                                   int sock, const char *msg, size_t msglen, int *stage);
    int pyrt_seccomp_action_avail(uint32_t action);
    int pyrt_seccomp_flag_supported(unsigned int flag);
    """
)

ffibuilder.set_source(
    "pyruntime.syscalls._seccomp",
    r"""
    #ifndef _GNU_SOURCE
    #define _GNU_SOURCE
    #endif
    #include <errno.h>
    #include <stdint.h>
    #include <string.h>
    #include <unistd.h>
    #include <sys/mman.h>
    #include <sys/prctl.h>
    #include <sys/socket.h>
    #include <sys/syscall.h>
    #include <linux/filter.h>
    #include <linux/seccomp.h>
    #include <seccomp.h>

    #ifndef SECCOMP_GET_ACTION_AVAIL
    #define SECCOMP_GET_ACTION_AVAIL 2
    #endif
    #ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
    #define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
    #endif

    /* seccomp_export_bpf() writes the program to an fd: a memfd, read back
       into buf. Returns the program's size in bytes (which may exceed len:
       call again with a bigger buffer), or -errno. */
    static long pyrt_seccomp_export(scmp_filter_ctx ctx, unsigned char *buf, size_t len) {
        int fd = memfd_create("pyrt-seccomp", MFD_CLOEXEC);
        if (fd < 0)
            return -errno;
        int r = seccomp_export_bpf(ctx, fd);
        if (r < 0) {
            close(fd);
            return r;
        }
        off_t size = lseek(fd, 0, SEEK_END);
        if (size < 0) {
            r = -errno;
            close(fd);
            return r;
        }
        if ((size_t)size <= len) {
            size_t done = 0;
            while (done < (size_t)size) {
                ssize_t n = pread(fd, buf + done, (size_t)size - done, (off_t)done);
                if (n <= 0) {
                    r = n < 0 ? -errno : -EIO;
                    close(fd);
                    return r;
                }
                done += (size_t)n;
            }
        }
        close(fd);
        return (long)size;
    }

    /* seccomp(SECCOMP_SET_MODE_FILTER, flags, prog). Without NO_NEW_PRIVS
       this needs CAP_SYS_ADMIN (the caller's business). */
    static int pyrt_seccomp_load(const unsigned char *prog, size_t len, unsigned int flags) {
        struct sock_fprog fprog;
        fprog.len = (unsigned short)(len / sizeof(struct sock_filter));
        fprog.filter = (struct sock_filter *)prog;
        long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
        if (r < 0 && errno == ENOSYS && flags == 0)
            r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0);
        return r < 0 ? -1 : 0;
    }

    /* Load the filter, then execve: nothing else runs in between. Returns
       only on failure, with errno set and *stage = 0 (the load failed) or
       1 (execve failed, the filter is in place). */
    static int pyrt_seccomp_load_exec(const unsigned char *prog, size_t len, unsigned int flags,
                                      const char *path, char *const argv[], char *const envp[],
                                      int *stage) {
        *stage = 0;
        if (pyrt_seccomp_load(prog, len, flags) != 0)
            return -1;
        *stage = 1;
        execve(path, argv, envp);
        return -1;
    }

    /* SCMP_ACT_NOTIFY: load the filter with SECCOMP_FILTER_FLAG_NEW_LISTENER
       (seccomp() then returns the listener, a new close-on-exec fd) and hand
       that fd to the runtime's parent at once: one sendmsg() of msg with the
       fd attached (SCM_RIGHTS) on the sync socket `sock`.

       The filter is in force from the seccomp() call on. A syscall of ours
       that it sends to the agent would wait for an answer from an agent that
       cannot have the fd yet: a deadlock. So nothing runs between the two
       calls, and seccomp.py refuses SCMP_ACT_NOTIFY for sendmsg (runc, which
       write()s the fd number instead, refuses it for write). Once sendmsg
       returns, the parent holds a copy of the fd, and later syscalls may be
       notified: the agent can see them.

       Returns the listener fd (still open: close it once the parent has
       answered), or -1 with errno set and *stage = 0 (the load failed) or
       1 (the filter is loaded, sendmsg failed; the fd stays open). */
    static int pyrt_seccomp_load_listener(const unsigned char *prog, size_t len, unsigned int flags,
                                          int sock, const char *msg, size_t msglen, int *stage) {
        struct sock_fprog fprog;
        struct iovec iov;
        struct msghdr mh;
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct cmsghdr *cm;
        int fd;

        /* Everything but the two syscalls is prepared before the load. */
        fprog.len = (unsigned short)(len / sizeof(struct sock_filter));
        fprog.filter = (struct sock_filter *)prog;
        iov.iov_base = (void *)msg;
        iov.iov_len = msglen;
        memset(&mh, 0, sizeof(mh));
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));

        *stage = 0;
        fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                          flags | SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
        if (fd < 0)
            return -1;
        *stage = 1;
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
            return -1;
        return fd;
    }

    /* 1 when the kernel knows the action, 0 when it does not. */
    static int pyrt_seccomp_action_avail(uint32_t action) {
        return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
    }

    /* Whether the kernel accepts a SECCOMP_SET_MODE_FILTER flag: with a NULL
       program, a known flag fails with EFAULT, an unknown one with EINVAL.
       (WAIT_KILLABLE_RECV is EINVAL without NEW_LISTENER: the caller adds it.) */
    static int pyrt_seccomp_flag_supported(unsigned int flag) {
        long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flag, NULL);
        return r < 0 && errno == EFAULT;
    }
    """,
    libraries=["seccomp"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
