/* invoke_process.c - the `process` backend: each instance is one OS process
 * running spec->command (`/bin/sh -c`) in the function's directory, speaking
 * the Lambda Runtime API to its own listener (runtime_api.c).
 *
 * Processes are started with posix_spawn, never fork: the broker may be large,
 * and glibc's posix_spawn uses clone(CLONE_VM|CLONE_VFORK), whose cost does not
 * grow with the parent's memory. Each child gets its own process group
 * (POSIX_SPAWN_SETPGROUP), so a timeout or a stop signals the runtime and
 * whatever it started (`sh -c` stays as the parent of the real runtime);
 * every signal disposition back to default (sluiced ignores SIGPIPE, and an
 * ignored disposition survives exec); an empty signal mask; /dev/null on
 * stdin; every descriptor above 2 closed. stdout and stderr are pipes read on
 * the loop and logged line by line with the request id they belong to.
 *
 * Children are reaped from a SIGCHLD event (libevent's evsignal) with
 * waitpid(pid, WNOHANG) for our own pids only, never waitpid(-1), which would
 * steal other modules' children. A reaped child's exit is acted on one loop
 * pass later, so a response it posted just before exiting is read first.
 * Processes of a destroyed invoker are SIGKILLed and, if not reaped at once,
 * kept on an orphan list that every SIGCHLD event of any invoker retries; the
 * last process invoker to go waits for them briefly (they were SIGKILLed, so
 * the kernel ends them without running their code). */
#include "fnlog.h"
#include "pool.h"
#include "runtime_api.h"

#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sluice/message.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define LINE_MAX_BYTES 8192     /* longer output lines are logged in pieces */
#define READ_BUDGET (64 * 1024) /* output bytes read per callback */
#define ORPHAN_WAIT_MS 500

typedef struct linebuf {
    char buf[LINE_MAX_BYTES];
    size_t n;
} linebuf_t;

typedef struct proc {
    sl_inv_inst_t *in;
    pid_t pid;                  /* also the process group id; 0 = never started */
    bool reaped;
    char why[64];               /* how it ended, once reaped */
    sl_rtapi_t *api;
    int fd[2];                  /* stdout, stderr read ends; -1 = closed */
    struct event *ev[2];
    linebuf_t *lb[2];
    struct event *exit_ev;      /* acts on the exit one loop pass after reaping */
    char request[SL_INV_REQUEST_ID_LEN + 1];  /* the call its output belongs to */
} proc_t;

typedef struct proc_fn {
    struct event *sigchld_ev;
    char *task_root;            /* absolute cwd */
    sl_kvlist_t env;            /* the environment but the per-instance variables */
} proc_fn_t;

/* ---- Orphans: children of destroyed invokers ---- */

static pid_t *orphans;
static size_t norphans, orphans_cap;
static unsigned live_invokers;

static void
reap_orphans(void)
{
    size_t i = 0;

    while (i < norphans) {
        pid_t r = waitpid(orphans[i], NULL, WNOHANG);

        if (r == orphans[i] || (r < 0 && errno == ECHILD))
            orphans[i] = orphans[--norphans];
        else
            i++;
    }
    if (norphans == 0) {
        sl_free(orphans);
        orphans = NULL;
        orphans_cap = 0;
    }
}

static void
add_orphan(pid_t pid)
{
    if (norphans == orphans_cap) {
        orphans_cap = orphans_cap ? orphans_cap * 2 : 8;
        orphans = sl_realloc(orphans, orphans_cap * sizeof(*orphans));
    }
    orphans[norphans++] = pid;
}

static void
wait_orphans(void)
{
    struct timespec ts = { 0, 1000000 };

    for (int i = 0; i < ORPHAN_WAIT_MS && norphans; i++) {
        reap_orphans();
        if (norphans)
            nanosleep(&ts, NULL);
    }
    if (norphans)
        sl_log(SL_LOG_WARN, "function processes not reaped count=%zu", norphans);
}

/* ---- Output ---- */

/* i: 0 stdout, 1 stderr */
static void
log_line(proc_t *p, int i, const char *line, size_t n)
{
    sl_invoker_t *inv = p->in->inv;

    if (n && line[n - 1] == '\r')
        n--;
    sl_log(SL_LOG_INFO, "function output function=%s request=%s line=%.*s",
           sl__inv_name(inv), p->request[0] ? p->request : "-", (int)n, line);
    if (inv->output)
        sl__fnlog_append(inv->output, sl__inv_epoch_ms(), p->in->id,
                         i == 0 ? SL_FNLOG_STDOUT : SL_FNLOG_STDERR, p->request, line, n);
}

static void
feed(proc_t *p, int i, const char *data, size_t n)
{
    linebuf_t *lb = p->lb[i];

    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;

        if (take > sizeof(lb->buf) - lb->n)
            take = sizeof(lb->buf) - lb->n;
        memcpy(lb->buf + lb->n, data, take);
        lb->n += take;
        data += take;
        n -= take;
        if (n > 0 && *data == '\n') {
            data++;
            n--;
            log_line(p, i, lb->buf, lb->n);
            lb->n = 0;
        } else if (lb->n == sizeof(lb->buf)) {
            log_line(p, i, lb->buf, lb->n);
            lb->n = 0;
        }
    }
}

static void
close_output(proc_t *p, int i)
{
    if (p->fd[i] < 0)
        return;
    if (p->lb[i]->n) {
        log_line(p, i, p->lb[i]->buf, p->lb[i]->n);
        p->lb[i]->n = 0;
    }
    event_free(p->ev[i]);
    p->ev[i] = NULL;
    close(p->fd[i]);
    p->fd[i] = -1;
}

/* Reads what is there; closes at EOF. Returns false when the budget ran out. */
static bool
drain_output(proc_t *p, int i)
{
    char buf[4096];
    size_t total = 0;
    ssize_t r;

    while (p->fd[i] >= 0 && total < READ_BUDGET) {
        r = read(p->fd[i], buf, sizeof(buf));
        if (r > 0) {
            feed(p, i, buf, (size_t)r);
            total += (size_t)r;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            close_output(p, i);
        } else if (errno == EAGAIN) {
            return true;
        }
    }
    return p->fd[i] < 0 || total < READ_BUDGET;
}

static void
on_output(evutil_socket_t fd, short what, void *arg)
{
    proc_t *p = arg;
    int i = fd == p->fd[0] ? 0 : 1;

    (void)what;
    drain_output(p, i);
}

/* ---- Reaping ---- */

static void
describe_status(int st, char *buf, size_t n)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "signal: %s", WTERMSIG(st) == SIGKILL ? "killed"
                                       : WTERMSIG(st) == SIGTERM ? "terminated"
                                       : strsignal(WTERMSIG(st)));
    else
        snprintf(buf, n, "status %d", st);
}

static void
on_exit_later(evutil_socket_t fd, short what, void *arg)
{
    proc_t *p = arg;

    (void)fd;
    (void)what;
    for (int i = 0; i < 2; i++)
        while (p->fd[i] >= 0 && !drain_output(p, i))
            ;
    sl__pool_exited(p->in, p->why);
}

static void
reaped(proc_t *p, int st)
{
    static const struct timeval zero = { 0, 0 };

    p->reaped = true;
    describe_status(st, p->why, sizeof(p->why));
    /* Whatever the runtime left behind in its group goes with it; the group id
     * is never signalled again, so a reused pid is never hit. */
    kill(-p->pid, SIGKILL);
    sl_log(SL_LOG_DEBUG, "function process reaped function=%s instance=%u pid=%d why=\"%s\"",
           sl__inv_name(p->in->inv), p->in->id, (int)p->pid, p->why);
    p->exit_ev = evtimer_new(p->in->inv->base, on_exit_later, p);
    evtimer_add(p->exit_ev, &zero);
}

static void
on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    sl_invoker_t *inv = arg;
    sl_inv_inst_t *in;
    int st;

    (void)sig;
    (void)what;
    for (in = inv->insts; in; in = in->next) {
        proc_t *p = in->be;

        if (p == NULL || p->pid <= 0 || p->reaped)
            continue;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid)
            reaped(p, st);
    }
    if (norphans)
        reap_orphans();
}

/* ---- Spawning ---- */

static void
log_stream_name(char *buf, size_t n)
{
    char id[SL_MSG_ID_LEN + 1], hex[33];
    time_t now = time(NULL);
    struct tm tm;
    size_t o = 0;

    sl_uuid4(id);
    for (size_t i = 0; id[i] && o < 32; i++)
        if (id[i] != '-')
            hex[o++] = id[i];
    hex[o] = '\0';
    gmtime_r(&now, &tm);
    snprintf(buf, n, "%04d/%02d/%02d/[$LATEST]%s", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             hex);
}

static char **
build_envp(const sl_kvlist_t *env)
{
    char **envp = sl_calloc(env->n + 1, sizeof(*envp));

    for (size_t i = 0; i < env->n; i++) {
        size_t kl = strlen(env->v[i].key), vl = strlen(env->v[i].val);

        envp[i] = sl_malloc(kl + vl + 2);
        memcpy(envp[i], env->v[i].key, kl);
        envp[i][kl] = '=';
        memcpy(envp[i] + kl + 1, env->v[i].val, vl + 1);
    }
    return envp;
}

static void
free_envp(char **envp)
{
    for (size_t i = 0; envp[i]; i++)
        sl_free(envp[i]);
    sl_free(envp);
}

static int
spawn(proc_t *p, char *errbuf, size_t errlen)
{
    sl_invoker_t *inv = p->in->inv;
    proc_fn_t *fn = inv->be_state;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t def, mask;
    sl_kvlist_t env;
    char **envp;
    char api[32], stream[96];
    char *argv[] = { "/bin/sh", "-c", inv->spec.command, NULL };
    int out[2] = { -1, -1 }, err[2] = { -1, -1 };
    int rc;

    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        rc = errno;
        snprintf(errbuf, errlen, "pipe: %s", strerror(rc));
        goto out_close;
    }
    snprintf(api, sizeof(api), "127.0.0.1:%d", sl__rtapi_port(p->api));
    log_stream_name(stream, sizeof(stream));
    sl_kvlist_init(&env);
    sl_kvlist_copy(&env, &fn->env);
    sl_kvlist_set(&env, "AWS_LAMBDA_RUNTIME_API", api);
    if (sl_kvlist_get(&inv->spec.env, "AWS_LAMBDA_LOG_STREAM_NAME") == NULL)
        sl_kvlist_set(&env, "AWS_LAMBDA_LOG_STREAM_NAME", stream);
    envp = build_envp(&env);
    sl_kvlist_deinit(&env);

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addchdir_np(&fa, fn->task_root);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    sigfillset(&def);
    sigdelset(&def, SIGKILL);
    sigdelset(&def, SIGSTOP);
    sigemptyset(&mask);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setsigmask(&at, &mask);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETSIGMASK);
    rc = posix_spawn(&p->pid, "/bin/sh", &fa, &at, argv, envp);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    free_envp(envp);
    if (rc != 0) {
        p->pid = 0;
        snprintf(errbuf, errlen, "posix_spawn in %s: %s", fn->task_root, strerror(rc));
        goto out_close;
    }
    close(out[1]);
    close(err[1]);
    p->fd[0] = out[0];
    p->fd[1] = err[0];
    for (int i = 0; i < 2; i++) {
        evutil_make_socket_nonblocking(p->fd[i]);
        p->lb[i] = sl_malloc(sizeof(*p->lb[i]));
        p->lb[i]->n = 0;
        p->ev[i] = event_new(inv->base, p->fd[i], EV_READ | EV_PERSIST, on_output, p);
        event_add(p->ev[i], NULL);
    }
    sl_log(SL_LOG_INFO, "function process spawned function=%s instance=%u pid=%d api=%s",
           sl__inv_name(inv), p->in->id, (int)p->pid, api);
    return SL_OK;
out_close:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    return SL_EBACKEND;
}

/* ---- Backend hooks ---- */

static int
proc_start(sl_inv_inst_t *in, char *errbuf, size_t errlen)
{
    proc_t *p = sl_calloc(1, sizeof(*p));
    int rc;

    p->in = in;
    p->fd[0] = p->fd[1] = -1;
    in->be = p;
    if ((p->api = sl__rtapi_create(in, errbuf, errlen)) == NULL)
        return SL_EBACKEND;
    if ((rc = spawn(p, errbuf, errlen)) < 0)
        return rc;
    return SL_OK;
}

static void
proc_run(sl_inv_inst_t *in)
{
    proc_t *p = in->be;

    memcpy(p->request, in->call->request_id, sizeof(p->request));
    sl__rtapi_deliver(p->api);
}

static void
signal_group(proc_t *p, int sig)
{
    if (p->pid > 0 && !p->reaped && kill(-p->pid, sig) < 0 && errno != ESRCH)
        sl_log(SL_LOG_WARN, "kill failed pid=%d signal=%d errno=%d", (int)p->pid, sig, errno);
}

static sl_inst_state_t
proc_timed_out(sl_inv_inst_t *in)
{
    signal_group(in->be, SIGKILL);
    return SL_INST_STOPPING;
}

static bool
proc_stop(sl_inv_inst_t *in, bool graceful)
{
    proc_t *p = in->be;

    if (p == NULL || p->pid <= 0)
        return true;
    if (p->reaped)
        return p->exit_ev == NULL;  /* else its exit is about to be reported */
    signal_group(p, graceful ? SIGTERM : SIGKILL);
    return false;
}

static void
proc_kill(sl_inv_inst_t *in)
{
    signal_group(in->be, SIGKILL);
}

static void
proc_free_inst(sl_inv_inst_t *in)
{
    proc_t *p = in->be;
    int st;

    if (p == NULL)
        return;
    if (p->pid > 0 && !p->reaped) {
        signal_group(p, SIGKILL);
        if (waitpid(p->pid, &st, WNOHANG) != p->pid)
            add_orphan(p->pid);
    }
    for (int i = 0; i < 2; i++) {
        if (p->fd[i] >= 0) {
            drain_output(p, i);
            close_output(p, i);
        }
        sl_free(p->lb[i]);
    }
    if (p->exit_ev)
        event_free(p->exit_ev);
    sl__rtapi_destroy(p->api);
    sl_free(p);
    in->be = NULL;
}

static int
proc_create(sl_invoker_t *inv, char *errbuf, size_t errlen)
{
    const sl_function_spec_t *s = &inv->spec;
    proc_fn_t *fn;
    char root[PATH_MAX], num[32];
    const char *path = getenv("PATH"), *home = getenv("HOME");

    if (s->command == NULL || s->command[0] == '\0') {
        snprintf(errbuf, errlen, "process function needs a command");
        return SL_EINVAL;
    }
    if (realpath(s->cwd ? s->cwd : ".", root) == NULL) {
        snprintf(errbuf, errlen, "cwd %s: %s", s->cwd ? s->cwd : ".", strerror(errno));
        return SL_EINVAL;
    }
    fn = sl_calloc(1, sizeof(*fn));
    fn->task_root = sl_strdup(root);
    sl_kvlist_init(&fn->env);
    sl_kvlist_set(&fn->env, "PATH", path ? path : "/usr/local/bin:/usr/bin:/bin");
    if (home)
        sl_kvlist_set(&fn->env, "HOME", home);
    sl_kvlist_set(&fn->env, "LANG", "C.UTF-8");
    sl_kvlist_set(&fn->env, "TZ", ":UTC");
    sl_kvlist_set(&fn->env, "AWS_LAMBDA_FUNCTION_NAME", s->name);
    sl_kvlist_set(&fn->env, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    snprintf(num, sizeof(num), "%u", s->memory_mb);
    sl_kvlist_set(&fn->env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", num);
    snprintf(root, sizeof(root), "/aws/lambda/%s", s->name);
    sl_kvlist_set(&fn->env, "AWS_LAMBDA_LOG_GROUP_NAME", root);
    sl_kvlist_set(&fn->env, "AWS_REGION", inv->region);
    sl_kvlist_set(&fn->env, "AWS_DEFAULT_REGION", inv->region);
    sl_kvlist_set(&fn->env, "LAMBDA_TASK_ROOT", fn->task_root);
    sl_kvlist_set(&fn->env, "LAMBDA_RUNTIME_DIR", fn->task_root);
    if (s->handler)
        sl_kvlist_set(&fn->env, "_HANDLER", s->handler);
    sl_kvlist_set(&fn->env, "AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
    sl_kvlist_set(&fn->env, "AWS_ACCESS_KEY_ID", "test");
    sl_kvlist_set(&fn->env, "AWS_SECRET_ACCESS_KEY", "test");
    sl_kvlist_set(&fn->env, "AWS_SESSION_TOKEN", "test");
    for (size_t i = 0; i < s->env.n; i++)
        sl_kvlist_set(&fn->env, s->env.v[i].key, s->env.v[i].val);
    fn->sigchld_ev = evsignal_new(inv->base, SIGCHLD, on_sigchld, inv);
    event_add(fn->sigchld_ev, NULL);
    inv->be_state = fn;
    live_invokers++;
    return SL_OK;
}

static void
proc_destroy(sl_invoker_t *inv)
{
    proc_fn_t *fn = inv->be_state;

    event_free(fn->sigchld_ev);
    sl_kvlist_deinit(&fn->env);
    sl_free(fn->task_root);
    sl_free(fn);
    inv->be_state = NULL;
    if (--live_invokers == 0 && norphans)
        wait_orphans();
    else if (norphans)
        reap_orphans();
}

const sl_inv_backend_t sl__inv_process_backend = {
    .kind = "process",
    .create = proc_create,
    .destroy = proc_destroy,
    .start = proc_start,
    .run = proc_run,
    .timed_out = proc_timed_out,
    .stop = proc_stop,
    .kill = proc_kill,
    .free_inst = proc_free_inst,
};
