/* The container's program for bench_exec_gap.py: prints CLOCK_MONOTONIC in
 * nanoseconds as its first act, so the benchmark can tell when the runtime's
 * execve of the user program happened (the clock is the host's: no time
 * namespace). Static, no stdio buffering. */
#include <time.h>
#include <unistd.h>

int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char buf[32];
    int n = sizeof buf;
    buf[--n] = '\n';
    unsigned long long v = (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
    do {
        buf[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return write(1, buf + n, sizeof buf - (size_t)n) < 0;
}
