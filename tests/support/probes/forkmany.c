/* forkmany N: fork N children that sleep, count how many forks succeeded,
 * print "forked=K failed=F" and exit (the children die with the container's
 * PID namespace, or are killed here first). Used to probe pids.limit
 * without a shell, since busybox sh exits on its first failed fork. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20;
    pid_t kids[1024];
    int forked = 0, failed = 0;
    if (n > 1024)
        n = 1024;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            sleep(60);
            _exit(0);
        }
        if (pid < 0)
            failed++;
        else
            kids[forked++] = pid;
    }
    printf("forked=%d failed=%d\n", forked, failed);
    fflush(stdout);
    for (int i = 0; i < forked; i++)
        kill(kids[i], SIGKILL);
    while (wait(NULL) > 0)
        ;
    return 0;
}
