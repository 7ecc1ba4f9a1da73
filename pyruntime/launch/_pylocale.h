/* python_c_locale(): called right before the launchers exec the interpreter
 * (included by _sealexec.c and _warm.c).
 *
 * At start-up CPython sets LC_CTYPE from the environment, and coerces the
 * "C" locale to C.UTF-8 (PEP 538): either way it maps the locale's files,
 * ~150 KiB of resident pages in every command (measured with smaps: LC_CTYPE,
 * gconv-modules.cache). With LC_ALL=C it maps none, and PEP 540's UTF-8 mode
 * gives the same UTF-8 file names and stdio. pyruntime itself uses no locale
 * (LC_MESSAGES stays "C" in both cases), but its children (hooks, helpers
 * it runs with its environment) must get the caller's: the bootstrap in
 * bin/pyruntime puts LC_ALL back from PYRUNTIME_LC_ALL, "=<value>", or ""
 * when it was unset. */
#ifndef PYRT_PYLOCALE_H
#define PYRT_PYLOCALE_H
#include <stdlib.h>
#include <string.h>

static void python_c_locale(void)
{
    if (getenv("PYRUNTIME_LC_ALL")) /* done by the process that exec'd us */
        return;
    const char *lc = getenv("LC_ALL");
    size_t n = lc ? strlen(lc) : 0;
    char *saved = malloc(n + 2);
    if (!saved)
        return;
    saved[0] = lc ? '=' : 0;
    if (lc)
        memcpy(saved + 1, lc, n + 1);
    if (setenv("PYRUNTIME_LC_ALL", saved, 1) == 0)
        setenv("LC_ALL", "C", 1);
    free(saved);
}
#endif
