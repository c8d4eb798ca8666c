/* scaler.h - the per-trigger autoscaling controller: how many batches a trigger
 * should keep in flight. Pure logic, no I/O, no clock: every call takes now_ms, so
 * a test can drive it through hours of simulated load in milliseconds.
 *
 * The owner feeds it events as they happen (arrivals, completions) and calls
 * sl_scaler_tick() every cfg.tick_ms with the backlog and the batches in flight; the
 * tick returns the desired concurrency plus a static reason, and the inputs of that
 * decision stay readable (sl_scaler_state, sl_scaler_format for one sl_log line,
 * sl_scaler_metrics_render for /metrics). Policy and knobs: docs/autoscaling.md.
 * Not thread-safe: the event loop that owns the trigger owns its scaler.
 * Guarded by SLUICE_CONSUMERS_SCALER_H. */
#ifndef SLUICE_CONSUMERS_SCALER_H
#define SLUICE_CONSUMERS_SCALER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_scaler_cfg {
    uint32_t min, max;              /* concurrency bounds (batches in flight); default 0, 100.
                                     * max == 0 pauses the trigger (desired is always 0) */
    uint32_t batch_size;            /* b, messages per batch; default 10 */
    int64_t tick_ms;                /* controller period; rates are folded over windows of at
                                     * least tick_ms / 2; default 250 */
    int64_t drain_target_ms;        /* a backlog should drain within this; default 5000 */
    uint32_t max_step_up;           /* scale-up limit per tick: +max(max_step_up, current),
                                     * i.e. +N while small, doubling once above N; default 2 */
    int64_t scale_down_cooldown_ms; /* no scale-down within this of the last change;
                                     * default 10000 */
    int64_t idle_to_zero_ms;        /* no backlog, arrivals or work in flight for this long
                                     * -> 0 (only when min == 0); default 60000 */
    double ewma_alpha;              /* weight of the newest window, (0, 1]; default 0.3 */
} sl_scaler_cfg_t;

/* Reasons returned by sl_scaler_tick (static strings, compare with strcmp or ==). */
#define SL_SCALER_WHY_STEADY     "steady"       /* target == current */
#define SL_SCALER_WHY_BOOTSTRAP  "bootstrap"    /* raised without a duration estimate yet */
#define SL_SCALER_WHY_WAKE       "wake"         /* 0 -> n: work arrived; a cold start */
#define SL_SCALER_WHY_UP         "up"           /* raised to the target */
#define SL_SCALER_WHY_UP_LIMITED "up-limited"   /* raised by the per-tick limit, not yet there */
#define SL_SCALER_WHY_AT_MAX     "at-max"       /* at max, and the target is above it */
#define SL_SCALER_WHY_AT_MIN     "at-min"       /* at min, and the target is below it */
#define SL_SCALER_WHY_COOLDOWN   "cooldown"     /* target is lower, held by the cooldown */
#define SL_SCALER_WHY_DOWN       "down"         /* lowered to the target */
#define SL_SCALER_WHY_DOWN_STEP  "down-step"    /* lowered by half, the target is lower still */
#define SL_SCALER_WHY_IDLE       "idle"         /* lowered to 0 after idle_to_zero_ms */

/* The controller. Embed it anywhere (no allocation, nothing to free); fields are
 * private to scaler.c: read them through sl_scaler_state(). */
typedef struct sl_scaler {
    sl_scaler_cfg_t cfg;            /* sanitised copy */

    /* Events since win_start_ms, folded into the estimates by a tick. */
    int64_t win_start_ms;
    uint64_t win_arrivals;          /* messages, saturating */
    uint64_t win_completed;         /* messages, saturating */
    uint64_t win_batches;           /* completed batches */
    uint64_t win_errors;            /* of which failed */
    double win_duration_sum;        /* ms, summed over win_batches */
    bool saw_activity;              /* an arrival or completion since the last tick */

    /* Estimates (EWMAs over windows). */
    bool have_rates;                /* a window has been folded */
    bool have_duration;             /* a completion has been folded */
    double arrival_rate;            /* messages/s */
    double completion_rate;         /* messages/s */
    double mean_duration_ms;        /* per batch */
    double error_rate;              /* failed / completed batches, 0..1 */

    /* The last decision and its inputs. */
    uint32_t desired;
    uint32_t target;                /* before the step limit and cooldown */
    double need_arrivals;           /* lambda * d / b, batches */
    double need_backlog;            /* backlog * d / (b * drain_target), batches */
    uint64_t backlog;
    uint32_t in_flight;
    const char *why;
    int64_t last_tick_ms;
    int64_t last_change_ms;         /* last time desired changed (init counts) */
    int64_t last_activity_ms;       /* last backlog, arrival, completion or work in flight */

    /* Counters and cold starts. */
    uint64_t decisions, scale_ups, scale_downs, clock_backwards;
    uint64_t cold_starts;           /* 0 -> n transitions */
    bool cold_pending;              /* woke from 0, first completion not seen yet */
    bool waking;                    /* wake_from_ms is set */
    int64_t wake_from_ms;           /* first sign of work while at 0 */
    int64_t last_cold_start_ms;     /* first message's wait before its handler ran; -1 = none */
} sl_scaler_t;

/* Inputs and outcome of the last decision, for logs and /metrics. */
typedef struct sl_scaler_state {
    double arrival_rate;            /* messages/s, EWMA */
    double completion_rate;         /* messages/s, EWMA */
    double mean_duration_ms;        /* per batch, EWMA; 0 before the first completion */
    double error_rate;              /* failed fraction of completed batches, EWMA */
    uint64_t backlog;               /* as passed to the last tick */
    uint32_t in_flight;             /* as passed to the last tick */
    uint32_t desired;               /* the last answer */
    int64_t last_change_ms;         /* when desired last changed */
    /* Beyond the minimum a log line wants: */
    uint32_t target;                /* clamped target before step limit and cooldown */
    double need_arrivals;           /* lambda * d / b */
    double need_backlog;            /* backlog * d / (b * drain_target) */
    const char *why;                /* SL_SCALER_WHY_*; static */
    bool have_duration;             /* false: still bootstrapping */
    uint64_t decisions, scale_ups, scale_downs, clock_backwards;
    uint64_t cold_starts;
    int64_t last_cold_start_ms;     /* -1 = none measured yet */
} sl_scaler_state_t;

void sl_scaler_cfg_defaults(sl_scaler_cfg_t *c);
/* Returns SL_OK, or SL_EINVAL with a reason in err (may be NULL) for a config that
 * sl_scaler_init would have to repair: min > max, zero batch size, tick, drain target
 * or step, negative periods, alpha outside (0, 1]. */
int sl_scaler_cfg_check(const sl_scaler_cfg_t *c, char *err, size_t errlen);

/* cfg is copied (NULL: defaults) and sanitised: out-of-range values become their
 * defaults, min > max becomes min = max. Desired starts at cfg.min. */
void sl_scaler_init(sl_scaler_t *s, const sl_scaler_cfg_t *cfg, int64_t now_ms);

/* New messages observed (sends, stream records). */
void sl_scaler_on_arrivals(sl_scaler_t *s, uint64_t messages, int64_t now_ms);
/* One batch of messages finished after duration_ms of handler time (negative is read
 * as 0); error: the handler failed it. */
void sl_scaler_on_completion(sl_scaler_t *s, uint32_t messages, int64_t duration_ms, bool error,
                             int64_t now_ms);
/* Called every tick with the backlog (visible messages / stream lag) and the batches in
 * flight. Returns the new desired concurrency, within [min, max]; *why (may be NULL)
 * gets a static SL_SCALER_WHY_* string. A clock that goes backwards counts as no time
 * passing: the controller re-anchors at now_ms. */
uint32_t sl_scaler_tick(sl_scaler_t *s, uint64_t backlog, uint32_t in_flight, int64_t now_ms,
                        const char **why);

/* Inputs of the last decision. */
void sl_scaler_state(const sl_scaler_t *s, sl_scaler_state_t *out);
/* Formats the last decision as key=value fields into buf (for one sl_log line).
 * Returns what snprintf returns: the full length, which may exceed len - 1 when the
 * text was truncated; buf is NUL-terminated whenever len > 0. */
int sl_scaler_format(const sl_scaler_t *s, char *buf, size_t len);
/* Renders the scalers of n triggers as Prometheus text (gauges and counters named
 * sluice_scaler_*, label trigger="names[i]", each family grouped once with HELP and
 * TYPE). Same return and truncation rules as sl_scaler_format; call with len == 0 to
 * size the buffer. */
int sl_scaler_metrics_render(const sl_scaler_t *const *scalers, const char *const *names,
                             size_t n, char *buf, size_t len);

#endif
