/* peakrss OUT CMD [ARGS...]: run CMD, wait for it, write "<peak RSS KiB> <exit code>"
 * to the file OUT. Why a C helper: a child forked from the Python benchmark
 * starts with the benchmark's resident pages counted in its RSS, and the
 * kernel keeps that high-water mark across execve (ru_maxrss would report the
 * benchmark, ~17 MiB, for every command). Forked from this small process, the
 * command's ru_maxrss is its own. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: peakrss OUT CMD [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0)
        return 2;
    FILE *f = fopen(argv[1], "w");
    if (f == NULL)
        return 2;
    fprintf(f, "%ld %d\n", ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    fclose(f);
    return 0;
}
