/* test_work.c - the thread pool behind sl_work_submit (broker/work.c): every
 * job's fn runs once on a pool thread and its done once on the loop thread,
 * never inside submit; many submits from the loop and from done callbacks;
 * completions batched; destroy from inside a done callback; destroy with jobs
 * still running (fn finishes alone, done never runs). Loops are bounded by a
 * wall-clock deadline so a lost completion fails instead of hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <pthread.h>
#include <unistd.h>

#include "sluice/error.h"
#include "sluice/log.h"
#include "work.h"

#define NJOBS 20000

typedef struct job {
    int id;
    atomic_int fn_runs;
    int done_runs;
    pthread_t fn_thread;
    bool done_on_loop;
} job_t;

static pthread_t loop_thread;
static int done_total;
static bool in_submit;
static bool done_inside_submit;

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until *counter reaches want or 10 s pass. */
static void
run_until(struct event_base *base, const int *counter, int want)
{
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = { 0, 10000 };
    int64_t deadline = now_ms() + 10000;

    event_add(tick, &tv);
    while (*counter < want && now_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    assert_int_equal(*counter, want);
}

static void
job_fn(void *arg)
{
    job_t *j = arg;

    j->fn_thread = pthread_self();
    atomic_fetch_add(&j->fn_runs, 1);
}

static void
job_done(void *arg)
{
    job_t *j = arg;

    if (in_submit)
        done_inside_submit = true;
    j->done_runs++;
    j->done_on_loop = pthread_equal(pthread_self(), loop_thread);
    done_total++;
}

static void
test_many_jobs_each_once(void **state)
{
    struct event_base *base = event_base_new();
    sl_work_pool_t *p = sl_work_pool_create(base, 4);
    job_t *jobs = calloc(NJOBS, sizeof(*jobs));

    (void)state;
    assert_non_null(p);
    loop_thread = pthread_self();
    done_total = 0;
    done_inside_submit = false;
    for (int i = 0; i < NJOBS; i++) {
        jobs[i].id = i;
        in_submit = true;
        assert_int_equal(sl_work_submit(p, job_fn, job_done, &jobs[i]), SL_OK);
        in_submit = false;
    }
    assert_int_equal(sl_work_pending(p), NJOBS);
    run_until(base, &done_total, NJOBS);
    assert_false(done_inside_submit);
    for (int i = 0; i < NJOBS; i++) {
        assert_int_equal(atomic_load(&jobs[i].fn_runs), 1);
        assert_int_equal(jobs[i].done_runs, 1);
        assert_true(jobs[i].done_on_loop);
        assert_false(pthread_equal(jobs[i].fn_thread, loop_thread));
    }
    assert_int_equal(sl_work_pending(p), 0);
    sl_work_pool_destroy(p);
    event_base_free(base);
    free(jobs);
}

/* done callbacks that submit more work: a chain of 1000 per seed. */
typedef struct chain {
    sl_work_pool_t *p;
    int left;
    int *finished;
} chain_t;

static void
chain_fn(void *arg)
{
    (void)arg;
}

static void
chain_done(void *arg)
{
    chain_t *c = arg;

    if (--c->left > 0)
        assert_int_equal(sl_work_submit(c->p, chain_fn, chain_done, c), SL_OK);
    else
        (*c->finished)++;
}

static void
test_submit_from_done(void **state)
{
    struct event_base *base = event_base_new();
    sl_work_pool_t *p = sl_work_pool_create(base, 2);
    chain_t chains[8];
    int finished = 0;

    (void)state;
    for (int i = 0; i < 8; i++) {
        chains[i] = (chain_t){ p, 1000, &finished };
        assert_int_equal(sl_work_submit(p, chain_fn, chain_done, &chains[i]), SL_OK);
    }
    run_until(base, &finished, 8);
    sl_work_pool_destroy(p);
    event_base_free(base);
}

/* Completions arrive in batches: jobs that finish while the loop is not looking
 * come back in one wake-up (one pipe byte, one callback), however many. */
static atomic_int fns_finished;
static int batch_done;

static void
counting_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&fns_finished, 1);
}

static void
count_done(void *arg)
{
    (void)arg;
    batch_done++;
}

static void
test_batched_wakeups(void **state)
{
    struct event_base *base = event_base_new();
    sl_work_pool_t *p = sl_work_pool_create(base, 3);
    struct timespec ts = { 0, 1000000 };

    (void)state;
    batch_done = 0;
    atomic_store(&fns_finished, 0);
    assert_int_equal(sl_work_submit(p, counting_fn, NULL, NULL), SL_OK);    /* done may be NULL */
    for (int i = 0; i < 200; i++)
        assert_int_equal(sl_work_submit(p, counting_fn, count_done, NULL), SL_OK);
    for (int i = 0; i < 5000 && atomic_load(&fns_finished) < 201; i++)
        nanosleep(&ts, NULL);
    assert_int_equal(atomic_load(&fns_finished), 201);
    nanosleep(&(struct timespec){ 0, 50000000 }, NULL);   /* the last pushes after fn */
    assert_int_equal(batch_done, 0);            /* nothing runs until the loop does */
    run_until(base, &batch_done, 200);
    /* One wake-up for the lot; a second only if a thread was preempted between
     * its fn and its push for all of 50 ms. */
    assert_true(sl_work_wakeups(p) >= 1 && sl_work_wakeups(p) <= 2);
    assert_int_equal(sl_work_pending(p), 0);
    sl_work_pool_destroy(p);
    event_base_free(base);
}

/* A done callback may destroy the pool; later dones never run. */
static sl_work_pool_t *victim;
static int victim_dones;

static void
destroying_done(void *arg)
{
    (void)arg;
    victim_dones++;
    if (victim) {
        sl_work_pool_destroy(victim);
        victim = NULL;
    }
}

static void
test_destroy_from_done(void **state)
{
    struct event_base *base = event_base_new();
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval tv = { 0, 10000 };
    int64_t deadline = now_ms() + 300;

    (void)state;
    victim = sl_work_pool_create(base, 2);
    victim_dones = 0;
    for (int i = 0; i < 50; i++)
        assert_int_equal(sl_work_submit(victim, chain_fn, destroying_done, NULL), SL_OK);
    event_add(tick, &tv);
    while (now_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    assert_int_equal(victim_dones, 1);
    assert_null(victim);
    event_base_free(base);
}

/* Destroy while a job runs: destroy returns without waiting (the job is held
 * until after it returns, so a waiting destroy would hang here), the job
 * finishes on its own thread, and its done never runs. */
static atomic_int slow_started, slow_release, slow_finished;
static int slow_dones;

static void
blocking_fn(void *arg)
{
    struct timespec ts = { 0, 1000000 };

    (void)arg;
    atomic_store(&slow_started, 1);
    while (!atomic_load(&slow_release))
        nanosleep(&ts, NULL);
    atomic_store(&slow_finished, 1);
}

static void
slow_done(void *arg)
{
    (void)arg;
    slow_dones++;
}

static void
test_destroy_with_job_running(void **state)
{
    struct event_base *base = event_base_new();
    sl_work_pool_t *p = sl_work_pool_create(base, 1);
    struct timespec ts = { 0, 20 * 1000000 };

    (void)state;
    atomic_store(&slow_started, 0);
    atomic_store(&slow_release, 0);
    atomic_store(&slow_finished, 0);
    slow_dones = 0;
    assert_int_equal(sl_work_submit(p, blocking_fn, slow_done, NULL), SL_OK);
    for (int i = 0; i < 500 && !atomic_load(&slow_started); i++)
        nanosleep(&ts, NULL);
    assert_int_equal(atomic_load(&slow_started), 1);
    sl_work_pool_destroy(p);
    assert_int_equal(atomic_load(&slow_finished), 0);
    atomic_store(&slow_release, 1);
    for (int i = 0; i < 500 && !atomic_load(&slow_finished); i++)
        nanosleep(&ts, NULL);
    assert_int_equal(atomic_load(&slow_finished), 1);
    nanosleep(&ts, NULL);               /* the thread frees the pool and exits */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(slow_dones, 0);
    event_base_free(base);
}

static void
test_destroy_null(void **state)
{
    (void)state;
    sl_work_pool_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_jobs_each_once),
        cmocka_unit_test(test_submit_from_done),
        cmocka_unit_test(test_batched_wakeups),
        cmocka_unit_test(test_destroy_from_done),
        cmocka_unit_test(test_destroy_with_job_running),
        cmocka_unit_test(test_destroy_null),
    };

    sl_log_level = SL_LOG_ERROR;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
