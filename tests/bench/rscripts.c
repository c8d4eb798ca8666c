/* rscripts.c - `sluice-bench redis-script`: the redis store's Lua scripts as the
 * broker itself runs them, for tests/bench/redis.sh to SCRIPT LOAD into the Redis
 * whose ceiling it measures with redis-benchmark. Printed from sluice_core's own
 * table (broker/store/redis_scripts.c), never from a copy, so the ceiling runs
 * exactly the text sluiced sends, and the SHA printed is the one sluiced calls. */
#include "bench.h"

#include "store/redis_scripts.h"

#include <stdio.h>
#include <string.h>

static int
find(const char *name)
{
    for (int i = 0; i < SL_RS_COUNT; i++)
        if (strcmp(sl__rscript_name((sl_rscript_t)i), name) == 0)
            return i;
    fprintf(stderr, "sluice-bench redis-script: no script %s (see --list)\n", name);
    return -1;
}

int
bench_redis_script(int argc, char **argv)
{
    size_t len;
    int i;

    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (i = 0; i < SL_RS_COUNT; i++)
            printf("%s %s\n", sl__rscript_name((sl_rscript_t)i),
                   sl__rscript_sha((sl_rscript_t)i));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--sha") == 0) {
        if ((i = find(argv[2])) < 0)
            return 2;
        printf("%s\n", sl__rscript_sha((sl_rscript_t)i));
        return 0;
    }
    if (argc == 2 && argv[1][0] != '-') {
        const char *text;

        if ((i = find(argv[1])) < 0)
            return 2;
        text = sl__rscript_text((sl_rscript_t)i, &len);
        return fwrite(text, 1, len, stdout) == len ? 0 : 1;
    }
    fprintf(stderr, "usage: sluice-bench redis-script --list | --sha NAME | NAME\n");
    return 2;
}
