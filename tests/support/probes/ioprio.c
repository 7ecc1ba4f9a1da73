/* ioprio: print this process's I/O priority as "class=C data=D" (from
 * ioprio_get(IOPRIO_WHO_PROCESS, 0); class 0 none, 1 rt, 2 be, 3 idle).
 * busybox has no way to read it without a pid argument, and there is no
 * /proc file for it. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_PRIO_MASK ((1UL << IOPRIO_CLASS_SHIFT) - 1)

int main(void)
{
    long prio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
    if (prio < 0) {
        perror("ioprio_get");
        return 1;
    }
    printf("class=%ld data=%ld\n", prio >> IOPRIO_CLASS_SHIFT, prio & (long)IOPRIO_PRIO_MASK);
    return 0;
}
