/* log.c - one structured line per event on stderr.
 * Lines carry a UTC timestamp, the level and the source location, then the
 * caller's phrase and key=value fields. libevent's own warnings are routed here
 * so that everything the broker prints has one shape. */
#include "sluice/log.h"
#include "sluice/error.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

int sl_log_level = SL_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
sl__log(int lvl, const char *file, int line, const char *fmt, ...)
{
    char msg[2048], ts[32];
    struct timeval tv;
    struct tm tm;
    const char *base = strrchr(file, '/');
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (lvl < SL_LOG_DEBUG || lvl > SL_LOG_ERROR)
        lvl = SL_LOG_ERROR;
    fprintf(stderr, "%s.%03ldZ %-5s %s:%d %s\n", ts, (long)(tv.tv_usec / 1000),
            level_names[lvl], base ? base + 1 : file, line, msg);
}

int
sl_log_level_parse(const char *s, int *out)
{
    static const char *const names[] = { "debug", "info", "warn", "error", "off" };

    for (int i = 0; i < 5; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = i;
            return SL_OK;
        }
    }
    return SL_EINVAL;
}

static void
on_libevent_log(int severity, const char *msg)
{
    int lvl = severity == EVENT_LOG_DEBUG ? SL_LOG_DEBUG
            : severity == EVENT_LOG_MSG   ? SL_LOG_INFO
            : severity == EVENT_LOG_WARN  ? SL_LOG_WARN
                                          : SL_LOG_ERROR;

    sl_log(lvl, "libevent said msg=\"%s\"", msg);
}

void
sl_log_hook_libevent(void)
{
    event_set_log_callback(on_libevent_log);
}
