/* identity [FILE]: what this process inherited across fork and exec, one
 * "key: value" line each, to FILE (a hook's stdout is the runtime's) or to
 * stdout (a container's init). Static, for a busybox rootfs and the host.
 * Keys: the /proc/self/status lines (Uid, Gid, Groups, Cap*, NoNewPrivs,
 * Seccomp, Sig*, Umask, Cpus_allowed, THP_enabled, Speculation*), and
 * tty (the controlling terminal's tty_nr), securebits, keyring (session
 * keyring serial), acct (errno
 * of acct() on a missing path: what a seccomp filter answers first),
 * personality, nice, policy, ioprio, oom_score_adj, timerslack, loginuid,
 * sessionid, lsm, cgroup (one line, "|"-joined), ns.<name>, limit.<n>. */
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static FILE *out;

static void file_line(const char *key, const char *path, int join)
{
    char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (fd >= 0)
        close(fd);
    if (n < 0) {
        fprintf(out, "%s: error %d\n", key, errno);
        return;
    }
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == 0))
        buf[--n] = 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n')
            buf[i] = join ? '|' : ' ';
    fprintf(out, "%s: %s\n", key, buf);
}

int main(int argc, char **argv)
{
    out = argc > 1 ? fopen(argv[1], "w") : stdout;
    if (!out)
        return 1;
    /* before anything else: the status lines as inherited */
    FILE *st = fopen("/proc/self/status", "r");
    char line[4096];
    while (st && fgets(line, sizeof(line), st)) {
        static const char *keep[] = {"Uid:", "Gid:", "Groups:", "Cap", "NoNewPrivs:", "Seccomp:", "Sig", "Umask:",
                                     "Cpus_allowed:", "THP_enabled:", "Speculation", NULL};
        for (int i = 0; keep[i]; i++)
            if (!strncmp(line, keep[i], strlen(keep[i]))) {
                for (char *t = line; *t; t++)
                    if (*t == '\t')
                        *t = ' ';
                fputs(line, out);
            }
    }
    if (st)
        fclose(st);
    /* the controlling terminal: /proc/self/stat field 7 (tty_nr) */
    FILE *sf = fopen("/proc/self/stat", "r");
    char sbuf[1024];
    size_t sn = sf ? fread(sbuf, 1, sizeof(sbuf) - 1, sf) : 0;
    if (sf)
        fclose(sf);
    sbuf[sn] = 0;
    char *after = strrchr(sbuf, ')');
    int ppid = 0, pgrp = 0, session = 0, tty = -1;
    char state = '?';
    if (after)
        sscanf(after + 1, " %c %d %d %d %d", &state, &ppid, &pgrp, &session, &tty);
    fprintf(out, "tty: %d\n", tty);
    fprintf(out, "securebits: %d\n", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
    long key = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    fprintf(out, "keyring: %ld\n", key < 0 ? -(long)errno : key);
    errno = 0;
    long r = syscall(SYS_acct, "/nonexistent-pyrt-probe/acct");
    fprintf(out, "acct: %d\n", r < 0 ? errno : 0);
    fprintf(out, "personality: %#x\n", personality(0xffffffff));
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    fprintf(out, "nice: %d\n", errno ? -1000 : nice);
    fprintf(out, "policy: %ld\n", syscall(SYS_sched_getscheduler, 0));
    fprintf(out, "ioprio: %ld\n", syscall(SYS_ioprio_get, 1, 0)); /* IOPRIO_WHO_PROCESS, self */
    fprintf(out, "timerslack: %d\n", prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
    file_line("oom_score_adj", "/proc/self/oom_score_adj", 0);
    file_line("loginuid", "/proc/self/loginuid", 0);
    file_line("sessionid", "/proc/self/sessionid", 0);
    file_line("lsm", "/proc/self/attr/current", 0);
    file_line("cgroup", "/proc/self/cgroup", 1);
    static const char *ns[] = {"mnt", "pid", "net", "user", "ipc", "uts", "cgroup", "time", NULL};
    for (int i = 0; ns[i]; i++) {
        char path[64], link[128];
        snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        link[n < 0 ? 0 : n] = 0;
        fprintf(out, "ns.%s: %s\n", ns[i], link);
    }
    for (int res = 0; res < 16; res++) {
        struct rlimit lim;
        if (getrlimit(res, &lim) == 0)
            fprintf(out, "limit.%d: %lld %lld\n", res, (long long)lim.rlim_cur, (long long)lim.rlim_max);
    }
    fclose(out);
    return 0;
}
