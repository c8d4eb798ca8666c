/* scaler.c - the per-trigger autoscaling controller (DESIGN.md §7).
 * Little's law sizes a trigger: batches of b messages that each take d seconds keep up
 * with lambda messages/s when lambda * d / b of them are in flight, and a backlog B
 * drains within T when B * d / (b * T) more are. The controller estimates lambda and d
 * as EWMAs over tick windows, adds the two needs (the max() of them would stop draining
 * once B / T falls below lambda: capacity would only just match arrivals) and rounds up;
 * B counts only the backlog beyond one round of the current batches, the queue that
 * keeping up always has. Around that target sit the brakes: scale-up at most
 * +max(max_step_up, current) per tick (additive while small, doubling after), so a
 * noisy estimate cannot jump to max; scale-down only after a cooldown since the last
 * change and at most by half, because estimates lag and a cold start costs more than
 * an idle instance; zero only after idle_to_zero_ms without any sign of work.
 * Before the first completion there is no d: it starts one batch and adds max_step_up
 * per tick while the backlog exceeds one round of batches.
 *
 * Pure arithmetic on caller-given time: no I/O, no clock, no allocation. Every
 * division has a non-zero denominator, every double -> integer cast is range-checked,
 * and time differences saturate, so any input (zero, UINT64_MAX, INT64_MIN clocks)
 * yields finite state. */
#include "scaler.h"

#include "sluice/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEF_MIN         0u
#define DEF_MAX         100u
#define DEF_BATCH       10u
#define DEF_TICK_MS     250
#define DEF_DRAIN_MS    5000
#define DEF_STEP_UP     2u
#define DEF_COOLDOWN_MS 10000
#define DEF_IDLE_MS     60000
#define DEF_ALPHA       0.3

#define RATE_EPSILON    1e-6    /* msg/s; a decayed rate below this is 0 */
#define MIN_DURATION_MS 1.0     /* handlers report whole ms; 0 would mean free capacity */

/* ---- Arithmetic guards ---- */

/* now - then in ms, 0 when now <= then, saturating at INT64_MAX (no signed overflow
 * even for INT64_MIN / INT64_MAX clocks). */
static int64_t
elapsed(int64_t now, int64_t then)
{
    uint64_t d;

    if (now <= then)
        return 0;
    d = (uint64_t)now - (uint64_t)then;
    return d > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d;
}

static uint64_t
add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ceil(x) as uint32, 0 for NaN and x <= 0, UINT32_MAX when it would not fit. */
static uint32_t
ceil_u32(double x)
{
    uint32_t u;

    if (!(x > 0.0))
        return 0;
    if (x >= 4294967295.0)
        return UINT32_MAX;
    u = (uint32_t)x;
    return (double)u < x ? u + 1 : u;
}

static bool
is_finite(double x)
{
    return x == x && x <= 1.7976931348623157e308 && x >= -1.7976931348623157e308;
}

static void
ewma(double *avg, double sample, bool seeded, double alpha)
{
    if (!is_finite(sample))
        return;
    *avg = seeded ? alpha * sample + (1.0 - alpha) * *avg : sample;
}

/* ---- Configuration ---- */

void
sl_scaler_cfg_defaults(sl_scaler_cfg_t *c)
{
    c->min = DEF_MIN;
    c->max = DEF_MAX;
    c->batch_size = DEF_BATCH;
    c->tick_ms = DEF_TICK_MS;
    c->drain_target_ms = DEF_DRAIN_MS;
    c->max_step_up = DEF_STEP_UP;
    c->scale_down_cooldown_ms = DEF_COOLDOWN_MS;
    c->idle_to_zero_ms = DEF_IDLE_MS;
    c->ewma_alpha = DEF_ALPHA;
}

static bool
alpha_ok(double a)
{
    return a > 0.0 && a <= 1.0;     /* false for NaN */
}

int
sl_scaler_cfg_check(const sl_scaler_cfg_t *c, char *err, size_t errlen)
{
    const char *why = NULL;

    if (c->min > c->max)
        why = "min is above max";
    else if (c->batch_size == 0)
        why = "batch_size is 0";
    else if (c->tick_ms <= 0)
        why = "tick_ms is not positive";
    else if (c->drain_target_ms <= 0)
        why = "drain_target_ms is not positive";
    else if (c->max_step_up == 0)
        why = "max_step_up is 0";
    else if (c->scale_down_cooldown_ms < 0)
        why = "scale_down_cooldown_ms is negative";
    else if (c->idle_to_zero_ms < 0)
        why = "idle_to_zero_ms is negative";
    else if (!alpha_ok(c->ewma_alpha))
        why = "ewma_alpha is outside (0, 1]";
    if (why == NULL)
        return SL_OK;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return SL_EINVAL;
}

static void
cfg_sanitise(sl_scaler_cfg_t *c)
{
    if (c->min > c->max)
        c->min = c->max;
    if (c->batch_size == 0)
        c->batch_size = DEF_BATCH;
    if (c->tick_ms <= 0)
        c->tick_ms = DEF_TICK_MS;
    if (c->drain_target_ms <= 0)
        c->drain_target_ms = DEF_DRAIN_MS;
    if (c->max_step_up == 0)
        c->max_step_up = DEF_STEP_UP;
    if (c->scale_down_cooldown_ms < 0)
        c->scale_down_cooldown_ms = 0;
    if (c->idle_to_zero_ms < 0)
        c->idle_to_zero_ms = 0;
    if (!alpha_ok(c->ewma_alpha))
        c->ewma_alpha = DEF_ALPHA;
}

/* ---- Events ---- */

void
sl_scaler_init(sl_scaler_t *s, const sl_scaler_cfg_t *cfg, int64_t now_ms)
{
    memset(s, 0, sizeof(*s));
    if (cfg != NULL)
        s->cfg = *cfg;
    else
        sl_scaler_cfg_defaults(&s->cfg);
    cfg_sanitise(&s->cfg);
    s->win_start_ms = now_ms;
    s->desired = s->cfg.min;
    s->target = s->cfg.min;
    s->why = SL_SCALER_WHY_STEADY;
    s->last_tick_ms = now_ms;
    s->last_change_ms = now_ms;
    s->last_activity_ms = now_ms;
    s->last_cold_start_ms = -1;
}

/* Work showed up while the controller is at zero: the cold start is timed from here. */
static void
note_work(sl_scaler_t *s, int64_t now_ms)
{
    s->saw_activity = true;
    if (now_ms > s->last_activity_ms)
        s->last_activity_ms = now_ms;
    if (s->desired == 0 && !s->waking) {
        s->waking = true;
        s->wake_from_ms = now_ms;
    }
}

void
sl_scaler_on_arrivals(sl_scaler_t *s, uint64_t messages, int64_t now_ms)
{
    if (messages == 0)
        return;
    s->win_arrivals = add_sat(s->win_arrivals, messages);
    note_work(s, now_ms);
}

void
sl_scaler_on_completion(sl_scaler_t *s, uint32_t messages, int64_t duration_ms, bool error,
                        int64_t now_ms)
{
    if (duration_ms < 0)
        duration_ms = 0;
    s->win_completed = add_sat(s->win_completed, messages);
    s->win_batches = add_sat(s->win_batches, 1);
    if (error)
        s->win_errors = add_sat(s->win_errors, 1);
    s->win_duration_sum += (double)duration_ms;
    s->saw_activity = true;
    if (now_ms > s->last_activity_ms)
        s->last_activity_ms = now_ms;
    if (s->cold_pending) {
        /* The first message waited from wake_from_ms until its handler started. */
        int64_t started = now_ms < INT64_MIN + duration_ms ? INT64_MIN : now_ms - duration_ms;

        s->last_cold_start_ms = s->waking ? elapsed(started, s->wake_from_ms) : 0;
        s->cold_pending = false;
        s->waking = false;
    }
}

/* ---- The decision ---- */

/* t - delta, saturating at INT64_MIN. */
static int64_t
shift_back(int64_t t, uint64_t delta)
{
    uint64_t room = (uint64_t)t - (uint64_t)INT64_MIN;     /* t - INT64_MIN */
    uint64_t r;

    if (delta >= room)
        return INT64_MIN;
    r = room - delta;                                       /* result - INT64_MIN */
    return r > (uint64_t)INT64_MAX ? (int64_t)(r - (uint64_t)INT64_MAX - 1)
                                   : INT64_MIN + (int64_t)r;
}

/* Folds the window's events into the EWMAs and empties it. dt_ms is the window's
 * length, 0 when unknown (the clock went back): then the rates keep their value and only
 * the per-batch durations and errors, which do not depend on the clock, are used. */
static void
fold(sl_scaler_t *s, int64_t dt_ms)
{
    double a = s->cfg.ewma_alpha;

    if (dt_ms > 0) {
        double dt = (double)dt_ms;

        ewma(&s->arrival_rate, (double)s->win_arrivals * 1000.0 / dt, s->have_rates, a);
        ewma(&s->completion_rate, (double)s->win_completed * 1000.0 / dt, s->have_rates, a);
        if (s->arrival_rate < RATE_EPSILON)
            s->arrival_rate = 0.0;
        if (s->completion_rate < RATE_EPSILON)
            s->completion_rate = 0.0;
        s->have_rates = true;
    }
    if (s->win_batches > 0) {
        double n = (double)s->win_batches;

        ewma(&s->mean_duration_ms, s->win_duration_sum / n, s->have_duration, a);
        ewma(&s->error_rate, (double)s->win_errors / n, s->have_duration, a);
        s->have_duration = true;
    }
    s->win_arrivals = 0;
    s->win_completed = 0;
    s->win_batches = 0;
    s->win_errors = 0;
    s->win_duration_sum = 0.0;
}

/* The clock went backwards: no time passes. The cooldown, the idle period and a pending
 * cold start keep the length they had at the last tick (their start moves back with the
 * clock), rather than stalling until the clock catches up. The open window has no
 * knowable length, so its counts are dropped instead of being spread over a wrong one
 * (keeping them would fold two windows' arrivals into the next). */
static void
rebase(sl_scaler_t *s, int64_t now_ms)
{
    uint64_t delta = (uint64_t)s->last_tick_ms - (uint64_t)now_ms;

    s->clock_backwards++;
    s->last_tick_ms = now_ms;
    s->last_change_ms = shift_back(s->last_change_ms, delta);
    s->last_activity_ms = shift_back(s->last_activity_ms, delta);
    /* A wake_from_ms still ahead of the clock predates the jump; one that is not may
     * have been stamped by an arrival after it, and is left alone. */
    if (s->waking && s->wake_from_ms > now_ms)
        s->wake_from_ms = shift_back(s->wake_from_ms, delta);
    fold(s, 0);
    s->win_start_ms = now_ms;
}

/* Concurrency the estimates call for, before bounds and brakes. */
static uint32_t
raw_target(sl_scaler_t *s, uint64_t backlog, bool activity)
{
    uint32_t cur = s->desired;
    uint64_t round = (uint64_t)cur * s->cfg.batch_size;
    uint64_t excess = backlog > round ? backlog - round : 0;
    double b = (double)s->cfg.batch_size;
    double d = s->mean_duration_ms > MIN_DURATION_MS ? s->mean_duration_ms : MIN_DURATION_MS;
    uint32_t t;

    if (!s->have_duration) {
        s->need_arrivals = 0.0;
        s->need_backlog = 0.0;
        if (!activity)
            return 0;
        if (cur == 0)
            return 1;
        /* No d yet: max_step_up more while the backlog exceeds one round of batches. */
        if (excess > 0)
            return cur > UINT32_MAX - s->cfg.max_step_up ? UINT32_MAX : cur + s->cfg.max_step_up;
        return cur;
    }

    /* Up to one round of the current batches (cur * b messages) is the queue that
     * keeping up with arrivals always has: batches that free together find up to
     * lambda * d messages waiting. Only the excess is a backlog to drain; counting it
     * all would add up to cur * d / T batches in a perfectly steady state. */
    s->need_arrivals = s->arrival_rate * d / (1000.0 * b);
    s->need_backlog = (double)excess * d / (b * (double)s->cfg.drain_target_ms);
    t = ceil_u32(s->need_arrivals + s->need_backlog);
    if (activity && t == 0)
        t = 1;
    return t;
}

static uint32_t
clamp_u32(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

uint32_t
sl_scaler_tick(sl_scaler_t *s, uint64_t backlog, uint32_t in_flight, int64_t now_ms,
               const char **why)
{
    const sl_scaler_cfg_t *c = &s->cfg;
    uint32_t cur = s->desired;
    uint32_t raw, target, next;
    int64_t window_min = c->tick_ms / 2 > 0 ? c->tick_ms / 2 : 1;
    int64_t dt;
    bool activity, idle_expired;
    const char *w;

    if (now_ms < s->last_tick_ms)
        rebase(s, now_ms);
    s->last_tick_ms = now_ms;

    /* Short windows (two ticks in a row) would turn a handful of arrivals into a spike:
     * keep accumulating until the window is long enough. */
    dt = elapsed(now_ms, s->win_start_ms);
    if (dt >= window_min) {
        fold(s, dt);
        s->win_start_ms = now_ms;
    }

    activity = backlog > 0 || in_flight > 0 || s->saw_activity;
    s->saw_activity = false;
    if (activity) {
        s->last_activity_ms = now_ms;
        if (cur == 0 && !s->waking) {
            s->waking = true;
            s->wake_from_ms = now_ms;
        }
    }
    idle_expired = !activity && elapsed(now_ms, s->last_activity_ms) >= c->idle_to_zero_ms;

    raw = raw_target(s, backlog, activity);
    /* Keep one instance warm until the idle period has passed. */
    if (raw == 0 && cur > 0 && !idle_expired)
        raw = 1;
    target = clamp_u32(raw, c->min, c->max);

    next = cur;
    if (target > cur) {
        uint32_t step = cur > c->max_step_up ? cur : c->max_step_up;
        uint32_t limit = cur > UINT32_MAX - step ? UINT32_MAX : cur + step;

        next = target < limit ? target : limit;
        if (cur == 0)
            w = SL_SCALER_WHY_WAKE;
        else if (!s->have_duration)
            w = SL_SCALER_WHY_BOOTSTRAP;
        else
            w = next < target ? SL_SCALER_WHY_UP_LIMITED : SL_SCALER_WHY_UP;
    } else if (target < cur) {
        if (elapsed(now_ms, s->last_change_ms) < c->scale_down_cooldown_ms) {
            w = SL_SCALER_WHY_COOLDOWN;
        } else if (target == 0) {
            next = 0;               /* only reachable once idle_expired (or max == 0) */
            w = SL_SCALER_WHY_IDLE;
        } else if (target < cur / 2) {
            next = cur / 2;
            w = SL_SCALER_WHY_DOWN_STEP;
        } else {
            next = target;
            w = SL_SCALER_WHY_DOWN;
        }
    } else if (raw > c->max) {
        w = SL_SCALER_WHY_AT_MAX;
    } else if (raw < c->min) {
        w = SL_SCALER_WHY_AT_MIN;
    } else {
        w = SL_SCALER_WHY_STEADY;
    }

    if (next != cur) {
        s->last_change_ms = now_ms;
        if (next > cur) {
            s->scale_ups++;
            if (cur == 0) {
                s->cold_starts++;
                s->cold_pending = true;
                if (!s->waking) {
                    s->waking = true;
                    s->wake_from_ms = now_ms;
                }
            }
        } else {
            s->scale_downs++;
            if (next == 0) {
                /* A wake that never saw its first completion is not a cold start to
                 * report; the next one is timed afresh. */
                s->cold_pending = false;
                s->waking = false;
            }
        }
    }
    if (next > 0 && !s->cold_pending)
        s->waking = false;
    s->decisions++;
    s->desired = next;
    s->target = target;
    s->backlog = backlog;
    s->in_flight = in_flight;
    s->why = w;
    if (why != NULL)
        *why = w;
    return next;
}

/* ---- Reporting ---- */

void
sl_scaler_state(const sl_scaler_t *s, sl_scaler_state_t *out)
{
    memset(out, 0, sizeof(*out));
    out->arrival_rate = s->arrival_rate;
    out->completion_rate = s->completion_rate;
    out->mean_duration_ms = s->mean_duration_ms;
    out->error_rate = s->error_rate;
    out->backlog = s->backlog;
    out->in_flight = s->in_flight;
    out->desired = s->desired;
    out->last_change_ms = s->last_change_ms;
    out->target = s->target;
    out->need_arrivals = s->need_arrivals;
    out->need_backlog = s->need_backlog;
    out->why = s->why;
    out->have_duration = s->have_duration;
    out->decisions = s->decisions;
    out->scale_ups = s->scale_ups;
    out->scale_downs = s->scale_downs;
    out->clock_backwards = s->clock_backwards;
    out->cold_starts = s->cold_starts;
    out->last_cold_start_ms = s->last_cold_start_ms;
}

int
sl_scaler_format(const sl_scaler_t *s, char *buf, size_t len)
{
    return snprintf(buf, len,
                    "desired=%u target=%u why=%s backlog=%llu in_flight=%u "
                    "arrival_rate=%.3f completion_rate=%.3f mean_duration_ms=%.3f "
                    "error_rate=%.4f need_arrivals=%.3f need_backlog=%.3f "
                    "last_change_ms=%lld cold_starts=%llu last_cold_start_ms=%lld",
                    s->desired, s->target, s->why, (unsigned long long)s->backlog, s->in_flight,
                    s->arrival_rate, s->completion_rate, s->mean_duration_ms, s->error_rate,
                    s->need_arrivals, s->need_backlog, (long long)s->last_change_ms,
                    (unsigned long long)s->cold_starts, (long long)s->last_cold_start_ms);
}

typedef struct outbuf {
    char *buf;
    size_t len;
    size_t pos;                 /* bytes that the full text needs so far */
    bool failed;
} out_t;

static void out_printf(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_printf(out_t *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(o->pos < o->len ? o->buf + o->pos : NULL,
                  o->pos < o->len ? o->len - o->pos : 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        o->failed = true;
    else
        o->pos += (size_t)n;
}

/* A label value with \, " and newline escaped as the text format wants. */
static void
out_label(out_t *o, const char *v)
{
    for (; v != NULL && *v != '\0'; v++) {
        if (*v == '\\')
            out_printf(o, "\\\\");
        else if (*v == '"')
            out_printf(o, "\\\"");
        else if (*v == '\n')
            out_printf(o, "\\n");
        else
            out_printf(o, "%c", *v);
    }
}

enum {
    M_DESIRED, M_TARGET, M_BACKLOG, M_IN_FLIGHT, M_ARRIVAL, M_COMPLETION, M_DURATION,
    M_ERRORS, M_NEED_ARR, M_NEED_BACKLOG, M_LAST_COLD, M_DECISION, M_UPS, M_DOWNS,
    M_COLD_STARTS, M_COUNT
};

static const struct {
    const char *name, *type, *help;
} families[M_COUNT] = {
    [M_DESIRED] = {"sluice_scaler_desired", "gauge", "Desired concurrency (batches)"},
    [M_TARGET] = {"sluice_scaler_target", "gauge",
                  "Clamped target before step limit and cooldown"},
    [M_BACKLOG] = {"sluice_scaler_backlog", "gauge", "Backlog at the last decision"},
    [M_IN_FLIGHT] = {"sluice_scaler_in_flight", "gauge", "Batches in flight at the last decision"},
    [M_ARRIVAL] = {"sluice_scaler_arrival_rate", "gauge", "Arrivals, messages per second (EWMA)"},
    [M_COMPLETION] = {"sluice_scaler_completion_rate", "gauge",
                      "Completions, messages per second (EWMA)"},
    [M_DURATION] = {"sluice_scaler_mean_duration_seconds", "gauge",
                    "Mean handler duration per batch (EWMA)"},
    [M_ERRORS] = {"sluice_scaler_error_ratio", "gauge", "Failed fraction of batches (EWMA)"},
    [M_NEED_ARR] = {"sluice_scaler_need_arrivals", "gauge",
                    "Batches needed to keep up with arrivals"},
    [M_NEED_BACKLOG] = {"sluice_scaler_need_backlog", "gauge",
                        "Batches needed to drain the backlog within the target"},
    [M_LAST_COLD] = {"sluice_scaler_last_cold_start_seconds", "gauge",
                     "Wait of the first message after a scale from zero"},
    [M_DECISION] = {"sluice_scaler_decision", "gauge", "Reason of the last decision (always 1)"},
    [M_UPS] = {"sluice_scaler_scale_ups_total", "counter", "Scale-up decisions"},
    [M_DOWNS] = {"sluice_scaler_scale_downs_total", "counter", "Scale-down decisions"},
    [M_COLD_STARTS] = {"sluice_scaler_cold_starts_total", "counter", "Scales from zero"},
};

static void
out_value(out_t *o, const sl_scaler_t *s, int m)
{
    switch (m) {
    case M_DESIRED:
        out_printf(o, "%u", s->desired);
        break;
    case M_TARGET:
        out_printf(o, "%u", s->target);
        break;
    case M_BACKLOG:
        out_printf(o, "%llu", (unsigned long long)s->backlog);
        break;
    case M_IN_FLIGHT:
        out_printf(o, "%u", s->in_flight);
        break;
    case M_ARRIVAL:
        out_printf(o, "%.9g", s->arrival_rate);
        break;
    case M_COMPLETION:
        out_printf(o, "%.9g", s->completion_rate);
        break;
    case M_DURATION:
        out_printf(o, "%.9g", s->mean_duration_ms / 1000.0);
        break;
    case M_ERRORS:
        out_printf(o, "%.9g", s->error_rate);
        break;
    case M_NEED_ARR:
        out_printf(o, "%.9g", s->need_arrivals);
        break;
    case M_NEED_BACKLOG:
        out_printf(o, "%.9g", s->need_backlog);
        break;
    case M_LAST_COLD:
        out_printf(o, "%.3f", s->last_cold_start_ms < 0 ? 0.0 : s->last_cold_start_ms / 1000.0);
        break;
    case M_DECISION:
        out_printf(o, "1");
        break;
    case M_UPS:
        out_printf(o, "%llu", (unsigned long long)s->scale_ups);
        break;
    case M_DOWNS:
        out_printf(o, "%llu", (unsigned long long)s->scale_downs);
        break;
    case M_COLD_STARTS:
        out_printf(o, "%llu", (unsigned long long)s->cold_starts);
        break;
    default:
        break;
    }
}

int
sl_scaler_metrics_render(const sl_scaler_t *const *scalers, const char *const *names,
                         size_t n, char *buf, size_t len)
{
    out_t o = {.buf = buf, .len = len};

    if (len > 0)
        buf[0] = '\0';
    for (int m = 0; m < M_COUNT; m++) {
        out_printf(&o, "# HELP %s %s\n# TYPE %s %s\n", families[m].name, families[m].help,
                   families[m].name, families[m].type);
        for (size_t i = 0; i < n; i++) {
            out_printf(&o, "%s{trigger=\"", families[m].name);
            out_label(&o, names[i]);
            if (m == M_DECISION)
                out_printf(&o, "\",why=\"%s", scalers[i]->why);
            out_printf(&o, "\"} ");
            out_value(&o, scalers[i], m);
            out_printf(&o, "\n");
        }
    }
    if (o.failed || o.pos > (size_t)INT32_MAX)
        return -1;
    return (int)o.pos;
}
