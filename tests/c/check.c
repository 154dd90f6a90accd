#include "check.h"

#include <stdarg.h>
#include <stdlib.h>

int lk_test_failures;

void lk_test_report(const char *file, int line, const char *fmt, ...)
{
    va_list args;
    lk_test_failures++;
    if (lk_test_failures > 20) return; /* enough to diagnose; keep the log short */
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
}

static int selected(const char *name, int argc, char **argv)
{
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

int lk_test_main(const lk_test *tests, size_t count, int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        if (!selected(tests[i].name, argc, argv)) continue;
        lk_test_failures = 0;
        tests[i].run();
        if (lk_test_failures == 0) {
            passed++;
            printf("PASS %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s (%d failed checks)\n", tests[i].name, lk_test_failures);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}

double lk_rng_uniform(lk_rng *rng)
{
    unsigned long long z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

long long lk_rng_below(lk_rng *rng, long long bound)
{
    return (long long)(lk_rng_uniform(rng) * (double)bound);
}
