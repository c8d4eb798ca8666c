/* log.h - one-line structured logs on stderr.
 * sl_log() tests the level before evaluating its arguments. Messages are a short
 * lower-case phrase followed by key=value fields. Guarded by SLUICE_LOG_H. */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

enum { SL_LOG_DEBUG = 0, SL_LOG_INFO = 1, SL_LOG_WARN = 2, SL_LOG_ERROR = 3, SL_LOG_OFF = 4 };

extern int sl_log_level;

#define sl_log(lvl, ...) \
    do { if ((lvl) >= sl_log_level) sl__log((lvl), __FILE__, __LINE__, __VA_ARGS__); } while (0)

void sl__log(int lvl, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses "debug", "info", "warn", "error", "off". Returns SL_OK or SL_EINVAL. */
int sl_log_level_parse(const char *s, int *out);

/* Routes libevent's own log lines into sl_log. */
void sl_log_hook_libevent(void);

#endif
