/* sysprobe NR[:A0[:A1[:A2]]] ...: make each raw syscall (numbers and
 * arguments in decimal or 0x hex) and print one line per call:
 * "NR ok RET" or "NR errno N". For seccomp argument filters: the kernel
 * ignores the arguments of e.g. getppid(2), the filter still sees them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        unsigned long v[4] = {0, 0, 0, 0};
        char *p = argv[i];
        for (int k = 0; k < 4 && p && *p; k++) {
            v[k] = strtoul(p, &p, 0);
            if (*p == ':')
                p++;
        }
        errno = 0;
        long r = syscall((long)v[0], v[1], v[2], v[3], 0, 0, 0);
        if (r < 0)
            printf("%lu errno %d\n", v[0], errno);
        else
            printf("%lu ok %ld\n", v[0], r);
        fflush(stdout);
    }
    return 0;
}
