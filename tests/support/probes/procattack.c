/* procattack: a container process attacking the runtime's processes
 * through /proc (the CVE-2019-5736 class, tests/integration/test_security_exe.py).
 *
 *   procattack watch SECONDS   every process that appears in our pid
 *                              namespace during SECONDS is stopped
 *                              (SIGSTOP: a slow runtime step), attacked,
 *                              and continued; one report line each
 *   procattack pid PID FILE    attack PID once, report into FILE
 *
 * The attack on PID: readlink /proc/PID/exe; open it with O_PATH and, from
 * that fd, re-open /proc/self/fd/N for writing; open it for writing
 * directly; list /proc/PID/map_files and open each entry for reading and
 * for writing; open its root, cwd and fds (/proc/PID/root, cwd, fd/N).
 * Nothing is ever written. Every result is "ok" or -errno.
 * A "control" line first attacks a child of ours (an ordinary process) to
 * show what an unprotected process gives away. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *res(long r, char *buf)
{
    if (r >= 0)
        strcpy(buf, "ok");
    else
        sprintf(buf, "%ld", r);
    return buf;
}

static long try_open(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static void attack(FILE *out, const char *label, int pid)
{
    char p[96], link[512] = "", comm[64] = "", b1[24], b2[24], b3[24], b4[24], b5[24];
    snprintf(p, sizeof p, "/proc/%d/comm", pid);
    FILE *f = fopen(p, "r");
    if (f) {
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
    }
    snprintf(p, sizeof p, "/proc/%d/exe", pid);
    long n = readlink(p, link, sizeof link - 1);
    if (n < 0)
        snprintf(link, sizeof link, "%d", -errno);
    else
        link[n] = 0;
    long opath = open(p, O_PATH);
    long reopen_w = -1;
    if (opath < 0) {
        opath = -errno;
    } else {
        char self[64];
        snprintf(self, sizeof self, "/proc/self/fd/%ld", opath);
        reopen_w = try_open(self, O_WRONLY);
        close((int)opath);
        opath = 0;
    }
    long exe_w = try_open(p, O_WRONLY);
    snprintf(p, sizeof p, "/proc/%d/map_files", pid);
    long maps = 0, map_r = -ENOENT, map_w = -ENOENT;
    int r_ok = 0, w_ok = 0;
    DIR *d = opendir(p);
    if (!d) {
        maps = -errno;
    } else {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char q[400];
            snprintf(q, sizeof q, "%s/%s", p, e->d_name);
            long r = try_open(q, O_RDONLY), w = try_open(q, O_WRONLY);
            maps++;
            r_ok += r == 0;
            w_ok += w == 0;
            if (r_ok == 0)
                map_r = r;
            if (w_ok == 0)
                map_w = w;
        }
        closedir(d);
        if (r_ok)
            map_r = 0;
        if (w_ok)
            map_w = 0;
    }
    /* the process's root and cwd (the host's / before pivot_root) and its open fds */
    char b6[24], b7[24], b8[24];
    snprintf(p, sizeof p, "/proc/%d/root/", pid);
    long root = try_open(p, O_PATH | O_DIRECTORY);
    snprintf(p, sizeof p, "/proc/%d/cwd/", pid);
    long cwd = try_open(p, O_PATH | O_DIRECTORY);
    snprintf(p, sizeof p, "/proc/%d/fd", pid);
    long fds = 0, fd_open = -ENOENT;
    d = opendir(p);
    if (!d) {
        fds = -errno;
    } else {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char q[400];
            snprintf(q, sizeof q, "%s/%s", p, e->d_name);
            long r = try_open(q, O_PATH);
            fds++;
            if (fd_open != 0)
                fd_open = r;
        }
        closedir(d);
    }
    fprintf(out, "%s pid=%d comm=%s exe=%s exe_path=%s reopen_w=%s exe_w=%s map_files=%ld map_r=%s map_w=%s"
            " root=%s cwd=%s fds=%ld fd_open=%s\n",
            label, pid, comm, link, res(opath, b1), opath < 0 ? "-" : res(reopen_w, b2),
            res(exe_w, b3), maps, res(map_r, b4), res(map_w, b5), res(root, b6), res(cwd, b7),
            fds, res(fd_open, b8));
    fflush(out);
}

static int seen[65536];

static void mark_all(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid > 0 && pid < 65536)
            seen[pid] = 1;
    }
    if (d)
        closedir(d);
}

static int watch(int seconds)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int child = fork();
    if (child == 0) {
        execl("/bin/sleep", "sleep", "1000", (char *)0);
        _exit(127);
    }
    usleep(100000);
    attack(stdout, "control", child);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    mark_all();
    printf("ready\n");
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid >= 65536 || seen[pid])
                continue;
            seen[pid] = 1;
            int stopped = kill(pid, SIGSTOP) == 0;
            if (stopped)
                usleep(20000); /* let the stop land */
            attack(stdout, "attack", pid);
            if (stopped)
                kill(pid, SIGCONT);
        }
        if (d)
            closedir(d);
        while (waitpid(-1, NULL, WNOHANG) > 0) /* as PID 1: reap what was re-parented to us */
            ;
    }
    printf("end\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "watch"))
        return watch(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "pid")) {
        FILE *out = fopen(argv[3], "a");
        if (!out)
            return 1;
        attack(out, "attack", atoi(argv[2]));
        fclose(out);
        return 0;
    }
    fprintf(stderr, "usage: procattack watch SECONDS | procattack pid PID FILE\n");
    return 2;
}
