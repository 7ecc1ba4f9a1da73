/* pause: the sandbox ("pause") image of the CRI client test. Holds the pod's
 * namespaces open doing nothing: sleeps in pause() until SIGTERM or SIGINT,
 * then exits 0. As PID 1 of a shared PID namespace it also reaps the zombies
 * it inherits (SIGCHLD). Static: the image holds nothing else. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t done;

static void on_stop(int sig)
{
    (void)sig;
    done = 1;
}

static void on_child(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    while (!done)
        pause();
    return 0;
}
