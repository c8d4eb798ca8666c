/* test_scaler.c - the autoscaling controller against a simulated trigger.
 * The simulation runs in 1 ms steps of simulated time (no wall clock): messages arrive
 * at a steady lambda msg/s; up to c batches are in flight, each of min(backlog, b)
 * messages taking d ms, a freed slot taking the next batch at once; c is whatever the
 * last tick returned; a scale from zero may cost a cold start before the first batch.
 * Every tick of every run is checked for the controller's invariants (bounds, the
 * scale-up limit, the cooldown, idle -> 0, finite state), and the runs check the
 * settling bound stated in docs/autoscaling.md: within SETTLE_TICKS ticks of a start
 * the desired concurrency stays within +-1 of ceil(lambda * d / b) for good.
 * Settling times are printed as "# ..." lines. SLUICE_SEED replays the random run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sluice/error.h"

#include "../../consumers/scaler.h"

/* With the defaults (tick 250 ms, cooldown 10 s = 40 ticks, drain target 5 s), a start
 * from zero settles within: one bootstrap tick, <= 11 doubling ticks to any target up to
 * 2000, the drain of the backlog left by the ramp (held at the peak by the cooldown), one
 * cooldown of 40 ticks and one halving step. The measured worst case over the grid is
 * printed by test_grid_settles; docs/autoscaling.md quotes both. */
#define SETTLE_TICKS 64

#define TICK_MS     250
#define GRID_MAX    2000u

/* ---- The simulated trigger ---- */

typedef struct batch {
    int64_t end_ms;
    uint32_t msgs;
} batch_t;

typedef struct sim {
    sl_scaler_t sc;
    sl_scaler_cfg_t cfg;
    int64_t now;                /* true simulated ms */
    int64_t offset;             /* added to now for the scaler (clock steps) */
    int64_t step_back_ms;       /* the clock steps back this much ... */
    size_t step_every;          /* ... in the middle of every step_every-th tick; 0 = never */
    uint64_t lambda;            /* msg/s */
    int64_t lambda_since;       /* ms the rate was set */
    uint64_t lambda_sent;       /* arrivals since lambda_since */
    int64_t d;                  /* handler ms per batch */
    int64_t cold_ms;            /* a scale from zero starts its first batch this late */
    int64_t ready_at;           /* no batch starts before */
    uint64_t backlog;
    uint32_t c;                 /* concurrency the scaler asked for */
    batch_t *q;                 /* FIFO of batches in flight (all take d) */
    size_t qhead, qlen, qcap;
    uint64_t arrived, completed;
    int64_t last_change;        /* true ms of the last change of c */
    int64_t last_activity;      /* true ms of the last arrival, completion, backlog, batch */
    int64_t last_up;            /* true ms of the last increase */
    uint32_t *trace;            /* c after each tick */
    size_t ticks, trace_cap;
    uint32_t peak;
} sim_t;

static void
sim_init(sim_t *s, const sl_scaler_cfg_t *cfg, int64_t d)
{
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    s->d = d;
    s->qcap = cfg->max + 1;
    s->q = calloc(s->qcap, sizeof(*s->q));
    s->trace_cap = 4096;
    s->trace = calloc(s->trace_cap, sizeof(*s->trace));
    assert_non_null(s->q);
    assert_non_null(s->trace);
    sl_scaler_init(&s->sc, cfg, 0);
    s->c = s->sc.desired;
}

static void
sim_free(sim_t *s)
{
    free(s->q);
    free(s->trace);
}

static int64_t
sim_clock(const sim_t *s)
{
    return s->now + s->offset;
}

static void
sim_set_rate(sim_t *s, uint64_t lambda)
{
    s->lambda = lambda;
    s->lambda_since = s->now;
    s->lambda_sent = 0;
}

static void
sim_burst(sim_t *s, uint64_t n)
{
    s->backlog += n;
    s->arrived += n;
    s->last_activity = s->now;
    sl_scaler_on_arrivals(&s->sc, n, sim_clock(s));
}

static bool
is_num(double x)
{
    return x == x && x < 1e300 && x > -1e300;
}

static void
check_state(const sl_scaler_t *sc)
{
    sl_scaler_state_t st;

    sl_scaler_state(sc, &st);
    assert_true(is_num(st.arrival_rate) && st.arrival_rate >= 0);
    assert_true(is_num(st.completion_rate) && st.completion_rate >= 0);
    assert_true(is_num(st.mean_duration_ms) && st.mean_duration_ms >= 0);
    assert_true(is_num(st.error_rate) && st.error_rate >= 0 && st.error_rate <= 1);
    assert_true(is_num(st.need_arrivals) && st.need_arrivals >= 0);
    assert_true(is_num(st.need_backlog) && st.need_backlog >= 0);
    assert_non_null(st.why);
}

static uint32_t
up_limit(const sl_scaler_cfg_t *c, uint32_t prev)
{
    return prev > c->max_step_up ? prev : c->max_step_up;
}

static void
sim_tick(sim_t *s)
{
    uint32_t prev = s->c;
    const char *why = NULL;
    uint32_t lo = s->cfg.min < s->cfg.max ? s->cfg.min : s->cfg.max;

    s->c = sl_scaler_tick(&s->sc, s->backlog, (uint32_t)s->qlen, sim_clock(s), &why);
    assert_non_null(why);
    assert_true(s->c <= s->cfg.max);
    assert_true(s->c >= lo);
    if (s->c > prev)
        assert_true(s->c - prev <= up_limit(&s->cfg, prev));
    if (s->c < prev) {
        assert_true(s->now - s->last_change >= s->cfg.scale_down_cooldown_ms);
        assert_true(s->c >= prev / 2 || s->c == 0);
    }
    if (s->c == 0 && prev > 0) {
        assert_int_equal(s->cfg.min, 0);
        assert_true(s->now - s->last_activity >= s->cfg.idle_to_zero_ms);
        assert_string_equal(why, SL_SCALER_WHY_IDLE);
    }
    check_state(&s->sc);
    if (s->c != prev) {
        s->last_change = s->now;
        if (s->c > prev)
            s->last_up = s->now;
        if (prev == 0)
            s->ready_at = s->now + s->cold_ms;
    }
    if (s->c > s->peak)
        s->peak = s->c;
    if (s->ticks == s->trace_cap) {
        s->trace_cap *= 2;
        s->trace = realloc(s->trace, s->trace_cap * sizeof(*s->trace));
        assert_non_null(s->trace);
    }
    s->trace[s->ticks++] = s->c;
}

static void
sim_ms(sim_t *s)
{
    bool active = false;
    uint64_t n;

    s->now++;
    if (s->step_every > 0 && s->now % (TICK_MS * (int64_t)s->step_every) == TICK_MS / 2)
        s->offset -= s->step_back_ms;
    while (s->qlen > 0 && s->q[s->qhead].end_ms <= s->now) {
        batch_t *bt = &s->q[s->qhead];

        sl_scaler_on_completion(&s->sc, bt->msgs, s->d, false, sim_clock(s));
        s->completed += bt->msgs;
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
        active = true;
    }
    n = s->lambda * (uint64_t)(s->now - s->lambda_since) / 1000 - s->lambda_sent;
    if (n > 0) {
        s->lambda_sent += n;
        s->backlog += n;
        s->arrived += n;
        sl_scaler_on_arrivals(&s->sc, n, sim_clock(s));
    }
    if (s->now % TICK_MS == 0)
        sim_tick(s);
    if (s->now >= s->ready_at) {
        while (s->qlen < s->c && s->backlog > 0) {
            uint32_t take = s->backlog < s->cfg.batch_size ? (uint32_t)s->backlog
                                                           : s->cfg.batch_size;

            s->q[(s->qhead + s->qlen) % s->qcap] = (batch_t){s->now + s->d, take};
            s->qlen++;
            s->backlog -= take;
        }
    }
    if (active || n > 0 || s->backlog > 0 || s->qlen > 0)
        s->last_activity = s->now;
}

static void
sim_run_ticks(sim_t *s, size_t ticks)
{
    size_t until = s->ticks + ticks;

    while (s->ticks < until)
        sim_ms(s);
}

/* ceil(lambda * d / b) clamped to [max(min, 1), max]. */
static uint32_t
expected(const sl_scaler_cfg_t *c, uint64_t lambda, int64_t d)
{
    uint64_t per_s = (uint64_t)c->batch_size * 1000;
    uint64_t e = (lambda * (uint64_t)d + per_s - 1) / per_s;
    uint32_t lo = c->min > 1 ? c->min : 1;

    if (e < lo)
        e = lo;
    return e > c->max ? c->max : (uint32_t)e;
}

/* Ticks after `from` until the trace stays within +-1 of e up to `to`. */
static size_t
settle_ticks(const sim_t *s, size_t from, size_t to, uint32_t e)
{
    size_t settled = from;

    for (size_t i = from; i < to; i++)
        if (s->trace[i] + 1 < e || s->trace[i] > e + 1)
            settled = i + 1;
    return settled - from;
}

static void
grid_cfg(sl_scaler_cfg_t *c, uint32_t b)
{
    sl_scaler_cfg_defaults(c);
    c->batch_size = b;
    c->max = GRID_MAX;
}

/* Ticks to come down from `from` to within +-1 of e: one cooldown per halving it takes,
 * plus one cooldown (the estimates catching up, the last change's cooldown) and 8 ticks. */
static size_t
down_bound(const sl_scaler_cfg_t *c, uint32_t from, uint32_t e)
{
    size_t halvings = 0;

    while (from > e + 1) {
        from /= 2;
        halvings++;
    }
    return (halvings + 1) * (size_t)(c->scale_down_cooldown_ms / TICK_MS) + 8;
}

/* ---- Settling ---- */

static void
test_grid_settles(void **state)
{
    static const uint64_t lambdas[] = {10, 100, 1000, 5000};
    static const int64_t ds[] = {5, 50, 200};
    static const uint32_t bs[] = {1, 10};
    size_t worst = 0;

    (void)state;
    printf("# grid: lambda/s d_ms b expected settle_ticks peak final (max %u, bound %d)\n",
           GRID_MAX, SETTLE_TICKS);
    for (size_t li = 0; li < sizeof(lambdas) / sizeof(lambdas[0]); li++) {
        for (size_t di = 0; di < sizeof(ds) / sizeof(ds[0]); di++) {
            for (size_t bi = 0; bi < sizeof(bs) / sizeof(bs[0]); bi++) {
                sl_scaler_cfg_t cfg;
                sim_t s;
                uint32_t e;
                size_t st;
                uint64_t arr0, done0;

                grid_cfg(&cfg, bs[bi]);
                sim_init(&s, &cfg, ds[di]);
                e = expected(&cfg, lambdas[li], ds[di]);
                sim_set_rate(&s, lambdas[li]);
                sim_run_ticks(&s, 160);             /* 40 s */
                arr0 = s.arrived;
                done0 = s.completed;
                sim_run_ticks(&s, 80);              /* 20 s more */
                st = settle_ticks(&s, 0, s.ticks, e);
                printf("# grid: %5llu %3lld %2u %4u %3zu %4u %4u\n",
                       (unsigned long long)lambdas[li], (long long)ds[di], bs[bi], e, st,
                       s.peak, s.c);
                assert_true(st <= SETTLE_TICKS);
                /* Never at max when it is not needed. */
                assert_true(e + 1 < cfg.max);
                assert_true(s.peak < cfg.max);
                /* And it keeps up: the last 20 s completed what arrived, give or take
                 * one round of batches. */
                assert_true(s.completed - done0 + (uint64_t)(e + 1) * cfg.batch_size +
                                lambdas[li] * (uint64_t)ds[di] / 1000 >= s.arrived - arr0);
                assert_true(s.backlog <= (uint64_t)(e + 1) * cfg.batch_size +
                                             lambdas[li] * TICK_MS / 1000);
                if (st > worst)
                    worst = st;
                sim_free(&s);
            }
        }
    }
    printf("# grid: worst settle %zu ticks (%zu ms)\n", worst, worst * TICK_MS);
}

/* Needed > max: it sits at max and says so. */
static void
test_clamps_to_max(void **state)
{
    sl_scaler_cfg_t cfg;
    sim_t s;

    (void)state;
    grid_cfg(&cfg, 1);
    cfg.max = 100;
    sim_init(&s, &cfg, 200);
    sim_set_rate(&s, 5000);                         /* needs 1000 */
    sim_run_ticks(&s, 120);
    assert_int_equal(settle_ticks(&s, 0, s.ticks, 100) <= SETTLE_TICKS, 1);
    assert_int_equal(s.c, 100);
    assert_string_equal(s.sc.why, SL_SCALER_WHY_AT_MAX);
    sim_free(&s);
}

/* Load steps: ticks from each step to steady concurrency, printed. Increases settle like
 * a start; a decrease by a factor k takes ceil(log2(k)) halving steps, one cooldown each. */
static void
test_load_steps(void **state)
{
    static const uint64_t steps[] = {100, 1000, 5000, 1000, 100, 2000, 10};
    sl_scaler_cfg_t cfg;
    sim_t s;
    uint32_t prev_e = 0;
    const size_t phase = 320;                      /* 80 s */

    (void)state;
    grid_cfg(&cfg, 1);
    sim_init(&s, &cfg, 50);                         /* d = 50 ms, b = 1: e = lambda / 20 */
    printf("# steps: lambda/s from->to expected settle_ticks bound\n");
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        uint32_t e = expected(&cfg, steps[i], s.d);
        size_t from = s.ticks, st, bound;

        sim_set_rate(&s, steps[i]);
        sim_run_ticks(&s, phase);
        st = settle_ticks(&s, from, s.ticks, e);
        bound = e >= prev_e ? SETTLE_TICKS : down_bound(&cfg, prev_e, e);
        printf("# steps: %4llu %4u->%-4u %3zu <= %zu\n", (unsigned long long)steps[i], prev_e,
               e, st, bound);
        assert_true(st <= bound);
        assert_true(st < phase);
        prev_e = e;
    }
    sim_free(&s);
}

/* ---- Bursts, cooldown, idle ---- */

static void
test_burst_scales_up_and_drains(void **state)
{
    sl_scaler_cfg_t cfg;
    sim_t s;
    uint32_t e;
    size_t burst_at, drained_at = 0, first_down = 0, settled;
    const size_t run = 320;

    (void)state;
    grid_cfg(&cfg, 10);
    sim_init(&s, &cfg, 50);
    sim_set_rate(&s, 100);
    e = expected(&cfg, 100, 50);                   /* 1 */
    sim_run_ticks(&s, 80);
    assert_true(s.c <= e + 1);

    sim_burst(&s, 20000);                           /* needs 20 more to drain in 5 s */
    burst_at = s.ticks;
    s.peak = 0;
    for (size_t i = 0; i < run; i++) {
        uint32_t prev = s.c;

        sim_run_ticks(&s, 1);
        if (drained_at == 0 && s.backlog <= cfg.batch_size)
            drained_at = s.ticks - burst_at;
        if (first_down == 0 && s.c < prev) {
            first_down = s.ticks - burst_at;
            /* The explicit check of the cooldown (sim_tick asserts it on every tick). */
            assert_true(s.now - s.last_up >= cfg.scale_down_cooldown_ms);
        }
    }
    settled = settle_ticks(&s, burst_at, s.ticks, e);
    printf("# burst: 20000 msgs peak=%u drained after %zu ticks, first scale-down after %zu, "
           "settled after %zu (bound %zu)\n", s.peak, drained_at, first_down, settled,
           down_bound(&cfg, s.peak, e));
    assert_true(s.peak >= 20);
    assert_true(s.peak < cfg.max);
    assert_true(drained_at > 0);
    assert_true(drained_at * TICK_MS <= (size_t)cfg.drain_target_ms + 10 * TICK_MS);
    assert_true(first_down * TICK_MS >= (size_t)cfg.scale_down_cooldown_ms);
    assert_true(settled <= down_bound(&cfg, s.peak, e));
    assert_true(settled < run);
    sim_free(&s);
}

/* Before the first completion there is no duration: 1, then +max_step_up per tick while
 * the backlog exceeds what is in flight. */
static void
test_bootstrap_is_cautious(void **state)
{
    sl_scaler_t sc;
    sl_scaler_cfg_t cfg;
    const char *why;
    uint32_t c;

    (void)state;
    sl_scaler_cfg_defaults(&cfg);
    sl_scaler_init(&sc, &cfg, 1000);
    assert_int_equal(sl_scaler_tick(&sc, 0, 0, 1250, &why), 0);
    assert_string_equal(why, SL_SCALER_WHY_STEADY);
    sl_scaler_on_arrivals(&sc, 5000, 1300);
    assert_int_equal(sl_scaler_tick(&sc, 5000, 0, 1500, &why), 1);
    assert_string_equal(why, SL_SCALER_WHY_WAKE);
    c = 1;
    for (int i = 1; i <= 5; i++) {
        uint32_t n = sl_scaler_tick(&sc, 5000, c, 1500 + i * 250, &why);

        assert_int_equal(n, c + cfg.max_step_up);
        assert_string_equal(why, SL_SCALER_WHY_BOOTSTRAP);
        c = n;
    }
    /* Backlog no longer above what is in flight: hold. */
    assert_int_equal(sl_scaler_tick(&sc, (uint64_t)c * cfg.batch_size, c, 3250, &why), c);
    /* The first completion gives d; the cold start is measured from the first arrival
     * to the start of that batch. */
    sl_scaler_on_completion(&sc, 10, 400, false, 3300);
    assert_int_equal(sc.cold_starts, 1);
    assert_int_equal(sc.last_cold_start_ms, 3300 - 400 - 1300);
    sl_scaler_tick(&sc, 5000, c, 3500, &why);
    assert_true(sc.have_duration);
    check_state(&sc);
}

static void
run_idle(uint32_t min)
{
    sl_scaler_cfg_t cfg;
    sim_t s;
    size_t stop_tick, zero_tick = 0;
    int64_t quiet_from;

    grid_cfg(&cfg, 10);
    cfg.min = min;
    sim_init(&s, &cfg, 50);
    s.cold_ms = 700;
    sim_set_rate(&s, 100);
    sim_run_ticks(&s, 40);
    sim_set_rate(&s, 0);
    stop_tick = s.ticks;
    while (s.qlen > 0 || s.backlog > 0)
        sim_ms(&s);
    quiet_from = s.last_activity;
    while (s.ticks < stop_tick + 400) {
        sim_run_ticks(&s, 1);
        if (s.now - quiet_from < cfg.idle_to_zero_ms)
            assert_true(s.c >= (min > 1 ? min : 1));
        if (zero_tick == 0 && s.c == 0)
            zero_tick = s.ticks;
    }
    if (min > 0) {
        assert_int_equal(zero_tick, 0);
        assert_int_equal(s.c, min);
        assert_string_equal(s.sc.why, SL_SCALER_WHY_AT_MIN);
        sim_free(&s);
        return;
    }
    assert_true(zero_tick > 0);
    /* The first tick at or after idle_to_zero_ms without any sign of work. */
    assert_true((int64_t)zero_tick * TICK_MS >= quiet_from + cfg.idle_to_zero_ms);
    assert_true((int64_t)zero_tick * TICK_MS < quiet_from + cfg.idle_to_zero_ms + 2 * TICK_MS);
    printf("# idle: last work at %lld ms, zero at %lld ms\n", (long long)quiet_from,
           (long long)zero_tick * TICK_MS);

    /* The next message wakes it, with a cold start of cold_ms plus the wait for a tick. */
    uint64_t cold0 = s.sc.cold_starts;

    sim_run_ticks(&s, 3);
    s.now += 37;                                    /* arrive between ticks */
    sim_burst(&s, 1);
    while (s.completed < s.arrived)
        sim_ms(&s);
    assert_int_equal(s.sc.cold_starts, cold0 + 1);
    printf("# idle: cold start measured %lld ms (cold_ms %lld)\n",
           (long long)s.sc.last_cold_start_ms, (long long)s.cold_ms);
    assert_true(s.sc.last_cold_start_ms >= s.cold_ms);
    assert_true(s.sc.last_cold_start_ms <= s.cold_ms + TICK_MS);
    sim_free(&s);
}

static void
test_idle_to_zero(void **state)
{
    (void)state;
    run_idle(0);
}

static void
test_idle_stays_at_min(void **state)
{
    (void)state;
    run_idle(2);
}

/* ---- Clocks and inputs ---- */

static void
test_clock_backwards(void **state)
{
    sl_scaler_cfg_t cfg;
    sim_t s;
    uint32_t e;
    size_t jump_at;

    (void)state;
    grid_cfg(&cfg, 10);
    sim_init(&s, &cfg, 50);
    sim_set_rate(&s, 1000);
    e = expected(&cfg, 1000, 50);                  /* 5 */
    sim_run_ticks(&s, 120);
    assert_true(settle_ticks(&s, 0, s.ticks, e) <= SETTLE_TICKS);

    /* One hour back: no time passes for the controller, and nothing changes. */
    s.offset -= 3600000;
    jump_at = s.ticks;
    sim_run_ticks(&s, 120);
    assert_true(s.sc.clock_backwards >= 1);
    assert_int_equal(settle_ticks(&s, jump_at, s.ticks, e), 0);

    /* The same tick time twice (an empty window) changes nothing either. */
    assert_int_equal(sl_scaler_tick(&s.sc, s.backlog, (uint32_t)s.qlen, sim_clock(&s), NULL),
                     s.c);
    check_state(&s.sc);
    sim_free(&s);

    /* A 400 ms step back in every 4th tick (so the next tick is earlier than the last):
     * settles as usual. */
    sim_init(&s, &cfg, 50);
    s.step_back_ms = 400;
    s.step_every = 4;
    sim_set_rate(&s, 1000);
    sim_run_ticks(&s, 200);
    printf("# clock steps back: settle %zu ticks, %llu backward ticks\n",
           settle_ticks(&s, 0, s.ticks, e), (unsigned long long)s.sc.clock_backwards);
    assert_true(settle_ticks(&s, 0, s.ticks, e) <= SETTLE_TICKS);
    assert_int_equal(s.sc.clock_backwards, 50);
    sim_free(&s);
}

static void
test_extreme_inputs(void **state)
{
    static const int64_t clocks[] = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1,
                                     INT64_MAX, 0, INT64_MIN, INT64_MAX};
    sl_scaler_cfg_t cfg;
    sl_scaler_t sc;
    uint32_t prev;
    char buf[512];

    (void)state;
    /* All-zero config: repaired, max 0 pauses. */
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(sl_scaler_cfg_check(&cfg, buf, sizeof(buf)), SL_EINVAL);
    sl_scaler_init(&sc, &cfg, 0);
    sl_scaler_on_arrivals(&sc, UINT64_MAX, 1);
    assert_int_equal(sl_scaler_tick(&sc, UINT64_MAX, UINT32_MAX, 1000, NULL), 0);
    check_state(&sc);

    /* Huge config, NaN alpha, huge events, a clock swinging over the whole range. */
    cfg.min = 0;
    cfg.max = UINT32_MAX;
    cfg.batch_size = 1;
    cfg.tick_ms = INT64_MAX;
    cfg.drain_target_ms = INT64_MAX;
    cfg.max_step_up = UINT32_MAX;
    cfg.scale_down_cooldown_ms = INT64_MAX;
    cfg.idle_to_zero_ms = INT64_MAX;
    cfg.ewma_alpha = NAN;
    sl_scaler_init(&sc, &cfg, INT64_MIN);
    assert_true(sc.cfg.ewma_alpha > 0 && sc.cfg.ewma_alpha <= 1);
    prev = sc.desired;
    for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
        uint32_t c;

        sl_scaler_on_arrivals(&sc, UINT64_MAX, clocks[i]);
        sl_scaler_on_arrivals(&sc, UINT64_MAX, clocks[i]);
        sl_scaler_on_completion(&sc, UINT32_MAX, INT64_MAX, true, clocks[i]);
        sl_scaler_on_completion(&sc, 0, -5, false, clocks[i]);
        sl_scaler_on_completion(&sc, 1, INT64_MIN, false, clocks[i]);
        c = sl_scaler_tick(&sc, UINT64_MAX, UINT32_MAX, clocks[i], NULL);
        if (c > prev)
            assert_true(c - prev <= up_limit(&sc.cfg, prev));
        check_state(&sc);
        assert_true(sl_scaler_format(&sc, buf, sizeof(buf)) > 0);
        prev = c;
    }
    /* Defaults (NULL config), zero inputs at INT64_MAX. */
    sl_scaler_init(&sc, NULL, INT64_MAX);
    for (int i = 0; i < 10; i++)
        assert_int_equal(sl_scaler_tick(&sc, 0, 0, INT64_MAX, NULL), 0);
    check_state(&sc);
    /* A zero-duration handler at high rate: bounded, finite. */
    sl_scaler_init(&sc, NULL, 0);
    for (int64_t t = 250; t <= 25000; t += 250) {
        sl_scaler_on_arrivals(&sc, 1000000, t - 100);
        sl_scaler_on_completion(&sc, 10, 0, false, t - 50);
        assert_true(sl_scaler_tick(&sc, 10, 1, t, NULL) <= sc.cfg.max);
        check_state(&sc);
    }
}

/* Random inputs against the invariants. */
static uint64_t
seed_from_env(void)
{
    const char *e = getenv("SLUICE_SEED");
    uint64_t seed = e && *e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL);

    printf("# random seed=%llu (set SLUICE_SEED to replay)\n", (unsigned long long)seed);
    return seed ? seed : 1;
}

static uint64_t
xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void
test_random_inputs(void **state)
{
    uint64_t x = seed_from_env();
    sl_scaler_cfg_t cfg;
    sl_scaler_t sc;

    (void)state;
    for (int run = 0; run < 50; run++) {
        int64_t now = (int64_t)(xorshift(&x) % 1000000);
        int64_t last_change, last_tick;
        uint32_t prev;

        sl_scaler_cfg_defaults(&cfg);
        cfg.min = (uint32_t)(xorshift(&x) % 4);
        cfg.max = cfg.min + (uint32_t)(xorshift(&x) % 300);
        cfg.batch_size = 1 + (uint32_t)(xorshift(&x) % 10);
        cfg.max_step_up = 1 + (uint32_t)(xorshift(&x) % 4);
        cfg.scale_down_cooldown_ms = (int64_t)(xorshift(&x) % 20000);
        cfg.idle_to_zero_ms = (int64_t)(xorshift(&x) % 30000);
        sl_scaler_init(&sc, &cfg, now);
        prev = sc.desired;
        last_change = now;
        last_tick = now;
        for (int i = 0; i < 2000; i++) {
            uint32_t c;

            now += (int64_t)(xorshift(&x) % 600) - 50;     /* sometimes backwards */
            if (xorshift(&x) % 2)
                sl_scaler_on_arrivals(&sc, xorshift(&x) % 5000, now);
            if (xorshift(&x) % 2)
                sl_scaler_on_completion(&sc, (uint32_t)(xorshift(&x) % 11),
                                        (int64_t)(xorshift(&x) % 3000), xorshift(&x) % 5 == 0,
                                        now);
            c = sl_scaler_tick(&sc, xorshift(&x) % 3 ? 0 : xorshift(&x) % 100000,
                               (uint32_t)(xorshift(&x) % (prev + 1)), now, NULL);
            assert_true(c >= cfg.min && c <= cfg.max);
            if (c > prev)
                assert_true(c - prev <= up_limit(&cfg, prev));
            /* The model of "a clock going back passes no time": the cooldown's start
             * moves back with it. */
            if (now < last_tick)
                last_change -= last_tick - now;
            last_tick = now;
            if (c < prev)
                assert_true(now - last_change >= cfg.scale_down_cooldown_ms);
            if (c != prev)
                last_change = now;
            check_state(&sc);
            prev = c;
        }
    }
}

/* ---- Reporting ---- */

static void
test_cfg_check(void **state)
{
    sl_scaler_cfg_t cfg;
    char err[128];

    (void)state;
    sl_scaler_cfg_defaults(&cfg);
    assert_int_equal(sl_scaler_cfg_check(&cfg, err, sizeof(err)), SL_OK);
    cfg.min = 5;
    cfg.max = 4;
    assert_int_equal(sl_scaler_cfg_check(&cfg, err, sizeof(err)), SL_EINVAL);
    assert_string_equal(err, "min is above max");
    sl_scaler_cfg_defaults(&cfg);
    cfg.ewma_alpha = 1.5;
    assert_int_equal(sl_scaler_cfg_check(&cfg, NULL, 0), SL_EINVAL);
    sl_scaler_cfg_defaults(&cfg);
    cfg.scale_down_cooldown_ms = -1;
    assert_int_equal(sl_scaler_cfg_check(&cfg, err, sizeof(err)), SL_EINVAL);
    /* init repairs what check rejects */
    sl_scaler_t sc;

    cfg.min = 9;
    cfg.max = 3;
    sl_scaler_init(&sc, &cfg, 0);
    assert_int_equal(sc.cfg.min, 3);
    assert_int_equal(sc.cfg.scale_down_cooldown_ms, 0);
    assert_int_equal(sc.desired, 3);
}

static void
test_format_and_metrics(void **state)
{
    sl_scaler_t a, b;
    const sl_scaler_t *v[2] = {&a, &b};
    const char *names[2] = {"orders", "we\"ird\\name\n"};
    char buf[8192], small[16];
    int n, full;
    sl_scaler_state_t st;

    (void)state;
    sl_scaler_init(&a, NULL, 0);
    sl_scaler_init(&b, NULL, 0);
    sl_scaler_on_arrivals(&a, 40, 100);
    sl_scaler_on_completion(&a, 10, 120, true, 200);
    sl_scaler_tick(&a, 25, 0, 250, NULL);
    sl_scaler_state(&a, &st);
    assert_int_equal(st.desired, 2);        /* ceil(160/s * 0.12 s / 10 + 25 * 0.12 / 50) */
    assert_int_equal(st.backlog, 25);
    assert_true(st.arrival_rate > 159.9 && st.arrival_rate < 160.1);
    assert_true(st.mean_duration_ms > 119.9 && st.mean_duration_ms < 120.1);
    assert_true(st.error_rate > 0.99);

    n = sl_scaler_format(&a, buf, sizeof(buf));
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    printf("# format: %s\n", buf);
    assert_non_null(strstr(buf, "desired=2 "));
    assert_non_null(strstr(buf, "why=wake "));
    assert_non_null(strstr(buf, "backlog=25 "));
    assert_non_null(strstr(buf, "arrival_rate=160.000 "));
    assert_non_null(strstr(buf, "mean_duration_ms=120.000 "));
    assert_int_equal(sl_scaler_format(&a, small, sizeof(small)), n);
    assert_int_equal(strlen(small), sizeof(small) - 1);

    full = sl_scaler_metrics_render(v, names, 2, NULL, 0);
    assert_true(full > 0 && (size_t)full < sizeof(buf));
    assert_int_equal(sl_scaler_metrics_render(v, names, 2, buf, sizeof(buf)), full);
    assert_int_equal(strlen(buf), (size_t)full);
    assert_non_null(strstr(buf, "sluice_scaler_desired{trigger=\"orders\"} 2\n"));
    assert_non_null(strstr(buf, "sluice_scaler_desired{trigger=\"we\\\"ird\\\\name\\n\"} 0\n"));
    assert_non_null(strstr(buf, "sluice_scaler_decision{trigger=\"orders\",why=\"wake\"} 1\n"));
    assert_non_null(strstr(buf, "# TYPE sluice_scaler_cold_starts_total counter\n"));
    /* Families are grouped: each TYPE line once, both triggers right after it. */
    {
        const char *p = strstr(buf, "# TYPE sluice_scaler_backlog gauge\n");
        const char *line = "sluice_scaler_backlog{trigger=\"orders\"} 25\n";

        assert_non_null(p);
        assert_null(strstr(p + 1, "# TYPE sluice_scaler_backlog "));
        p = strchr(p, '\n') + 1;
        assert_int_equal(strncmp(p, line, strlen(line)), 0);
    }
    assert_int_equal(sl_scaler_metrics_render(v, names, 2, small, sizeof(small)), full);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_settles),
        cmocka_unit_test(test_clamps_to_max),
        cmocka_unit_test(test_load_steps),
        cmocka_unit_test(test_burst_scales_up_and_drains),
        cmocka_unit_test(test_bootstrap_is_cautious),
        cmocka_unit_test(test_idle_to_zero),
        cmocka_unit_test(test_idle_stays_at_min),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_extreme_inputs),
        cmocka_unit_test(test_random_inputs),
        cmocka_unit_test(test_cfg_check),
        cmocka_unit_test(test_format_and_metrics),
    };

    setvbuf(stdout, NULL, _IONBF, 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
