/* main.c - sluiced: parse settings (defaults < sluice.yaml < environment <
 * flags), open the store, start the SQS service and the HTTP front end, apply
 * the queues the config declares, and run the loop until SIGINT/SIGTERM. */
#include "api/sns.h"
#include "api/sqs.h"
#include "../consumers/registry.h"
#include "config.h"
#include "http.h"
#include "jalloc.h"
#include "metrics.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sluice/store.h"

#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLUICE_VERSION "0.1.0"

static const char usage[] =
    "usage: sluiced [options]\n"
    "\n"
    "sluice's broker: SQS-compatible queues (query and JSON protocols) on one HTTP port,\n"
    "plus the native /v1 API, /healthz and /metrics.\n"
    "\n"
    "options (each also settable in sluice.yaml and as an environment variable):\n"
    "  --listen HOST:PORT     where to listen (SLUICE_LISTEN; default 127.0.0.1:9324)\n"
    "  --store URL            memory (default), or redis://[:PASSWORD@]HOST:PORT[/DB][?prefix=P]\n"
    "                         for a durable store shared by several brokers (SLUICE_STORE)\n"
    "  --config FILE          sluice.yaml: settings, and queues, functions and triggers to\n"
    "                         create at start (SLUICE_CONFIG; docs/config.md)\n"
    "  --region NAME          region in ARNs (SLUICE_REGION; default us-east-1)\n"
    "  --account ID           12-digit account in URLs and ARNs (SLUICE_ACCOUNT;\n"
    "                         default 000000000000)\n"
    "  --advertise-url URL    base of the queue URLs handed out, e.g. http://sluice:9324\n"
    "                         (SLUICE_ADVERTISE_URL; default: http:// + the request's Host)\n"
    "  --log-level LEVEL      debug, info, warn, error (SLUICE_LOG_LEVEL; default info)\n"
    "  -h, --help             this text\n"
    "  --version              print the version\n"
    "\n"
    "Point AWS clients at it with --endpoint-url http://127.0.0.1:9324 and any credentials.\n"
    "Settings apply in this order: defaults, the config file, environment, flags.\n";

typedef struct app {
    struct event_base *base;
    sl_store_t *store;
    sl_sqs_t *sqs;
    sl_metrics_t *metrics;
    sl_http_t *http;
    sl_registry_t *registry;
    sl_fanout_t *fanout;
    sl_sns_t *sns;
    sl_config_t *cfg;
    int exit_code;
    size_t applying;            /* config queues still being applied */
    size_t registering;         /* config functions/triggers still being applied */
    bool stopping;
} app_t;

typedef struct apply {
    app_t *app;
    json_t *q;
    bool retried;
} apply_t;

static void
on_drained(void *arg)
{
    app_t *app = arg;

    sl_log(SL_LOG_INFO, "functions drained; exiting");
    event_base_loopexit(app->base, NULL);
}

/* First signal: stop polling, let running invocations finish (up to their
 * deadlines), stop the instances, exit. A second signal exits at once. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    app_t *app = arg;

    (void)what;
    if (app->stopping || app->registry == NULL) {
        sl_log(SL_LOG_INFO, "shutting down now signal=%d", (int)sig);
        event_base_loopexit(app->base, NULL);
        return;
    }
    app->stopping = true;
    sl_log(SL_LOG_INFO, "shutting down signal=%d (again to stop at once)", (int)sig);
    sl_registry_shutdown(app->registry, on_drained, app);
}

/* Topics and subscriptions are in the fanout's cache: SNS calls may run. */
static void
on_topics_loaded(void *arg, int status)
{
    app_t *app = arg;

    if (status != SL_OK)
        sl_log(SL_LOG_WARN, "stored topics not loaded status=%s", sl_strerror(status));
    sl_sns_ready(app->sns);
}

/* ---- Functions and triggers from sluice.yaml, after the stored ones ---- */

static void apply_config_triggers(app_t *app);

static void
on_registered(void *arg, int status, const char *msg, json_t *out)
{
    app_t *app = arg;

    (void)out;
    if (status != SL_OK) {
        sl_log(SL_LOG_ERROR, "config function/trigger failed status=%s msg=\"%s\"",
               sl_strerror(status), msg ? msg : "");
        app->exit_code = 1;
        event_base_loopexit(app->base, NULL);
        return;
    }
    if (--app->registering == 0 && app->cfg->triggers)
        apply_config_triggers(app);
}

static void
apply_config_triggers(app_t *app)
{
    size_t i;
    json_t *t, *list = app->cfg->triggers;

    app->cfg->triggers = NULL;      /* once */
    json_array_foreach(list, i, t) {
        app->registering++;
        sl_registry_trigger_put(app->registry, t, on_registered, app);
    }
    json_decref(list);
}

static void
on_registry_loaded(void *arg, int status)
{
    app_t *app = arg;
    size_t i;
    json_t *f;

    if (status != SL_OK)
        sl_log(SL_LOG_WARN, "stored functions not loaded status=%s", sl_strerror(status));
    if (app->cfg->functions) {
        json_array_foreach(app->cfg->functions, i, f) {
            app->registering++;
            sl_registry_function_put(app->registry, f, on_registered, app);
        }
    }
    if (app->registering == 0 && app->cfg->triggers)
        apply_config_triggers(app);
}

static void
start_registry(app_t *app)
{
    sl_registry_load(app->registry, on_registry_loaded, app);
}

static void on_applied(void *arg, const sl_api_err_t *err, json_t *out);

static void
apply_queue(apply_t *a, const char *op)
{
    json_t *in = json_object();
    const char *name = json_string_value(json_object_get(a->q, "name"));
    json_t *attrs = json_object_get(a->q, "attributes");

    if (strcmp(op, "CreateQueue") == 0) {
        json_object_set_new(in, "QueueName", json_string(name));
        if (json_object_get(a->q, "tags"))
            json_object_set(in, "tags", json_object_get(a->q, "tags"));
    } else {
        json_object_set_new(in, "QueueUrl", json_string(name));
    }
    json_object_set(in, "Attributes", attrs ? attrs : json_object());
    sl_sqs_call(a->app->sqs, op, in, NULL, on_applied, a);
    json_decref(in);
}

static void
on_applied(void *arg, const sl_api_err_t *err, json_t *out)
{
    apply_t *a = arg;
    const char *name = json_string_value(json_object_get(a->q, "name"));

    (void)out;
    if (err && strcmp(err->shape, "QueueNameExists") == 0 && !a->retried) {
        a->retried = true;          /* exists with other attributes: bring it in line */
        apply_queue(a, "SetQueueAttributes");
        return;
    }
    if (err) {
        sl_log(SL_LOG_ERROR, "config queue failed queue=%s code=%s msg=\"%s\"", name, err->shape,
               err->message);
        a->app->exit_code = 1;
        event_base_loopexit(a->app->base, NULL);
    } else {
        sl_log(SL_LOG_DEBUG, "config queue applied queue=%s", name);
    }
    if (--a->app->applying == 0 && !err)
        start_registry(a->app);     /* triggers need their queues */
    json_decref(a->q);
    sl_free(a);
}

static void
apply_config_queues(app_t *app, json_t *queues)
{
    size_t i;
    json_t *q;

    /* Dead-letter queues first, so redrive policies name queues that exist. */
    for (int pass = 0; pass < 2; pass++) {
        json_array_foreach(queues, i, q) {
            const char *rp = json_string_value(json_object_get(json_object_get(q, "attributes"),
                                                               "RedrivePolicy"));
            apply_t *a;

            if ((rp != NULL && *rp) != (pass == 1))
                continue;
            a = sl_calloc(1, sizeof(*a));
            a->app = app;
            a->q = json_incref(q);
            app->applying++;
            apply_queue(a, "CreateQueue");
        }
    }
}

static void
env_override(char **dst, const char *var)
{
    const char *v = getenv(var);

    if (v != NULL && *v != '\0') {
        sl_free(*dst);
        *dst = sl_strdup(v);
    }
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "store", required_argument, NULL, 's' },
        { "config", required_argument, NULL, 'c' },
        { "region", required_argument, NULL, 'r' },
        { "account", required_argument, NULL, 'a' },
        { "advertise-url", required_argument, NULL, 'u' },
        { "log-level", required_argument, NULL, 'L' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    struct { int opt; char *val; } flags[16];
    int nflags = 0, opt, level;
    const char *config_path = getenv("SLUICE_CONFIG");
    sl_config_t cfg;
    app_t app = { 0 };
    char err[512];
    struct event *sigint_ev, *sigterm_ev;
    sl_sqs_opts_t so;

    sl_jalloc_install();         /* before any json_t exists */
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'V':
            printf("sluiced %s\n", SLUICE_VERSION);
            return 0;
        case 'c':
            config_path = optarg;
            break;
        case '?':
            fputs("try 'sluiced --help'\n", stderr);
            return 2;
        default:
            if (nflags < 16) {
                flags[nflags].opt = opt;
                flags[nflags++].val = optarg;
            }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluiced: unexpected argument \"%s\"; try 'sluiced --help'\n",
                argv[optind]);
        return 2;
    }
    sl_config_init(&cfg);
    if (config_path && sl_config_load(&cfg, config_path, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "sluiced: %s\n", err);
        sl_config_deinit(&cfg);
        return 2;
    }
    env_override(&cfg.listen, "SLUICE_LISTEN");
    env_override(&cfg.store, "SLUICE_STORE");
    env_override(&cfg.region, "SLUICE_REGION");
    env_override(&cfg.account, "SLUICE_ACCOUNT");
    env_override(&cfg.advertise_url, "SLUICE_ADVERTISE_URL");
    env_override(&cfg.log_level, "SLUICE_LOG_LEVEL");
    for (int i = 0; i < nflags; i++) {
        char **dst = flags[i].opt == 'l' ? &cfg.listen : flags[i].opt == 's' ? &cfg.store
                   : flags[i].opt == 'r' ? &cfg.region : flags[i].opt == 'a' ? &cfg.account
                   : flags[i].opt == 'u' ? &cfg.advertise_url : &cfg.log_level;

        sl_free(*dst);
        *dst = sl_strdup(flags[i].val);
    }
    if (sl_log_level_parse(cfg.log_level, &level) != SL_OK) {
        fprintf(stderr, "sluiced: bad log level \"%s\" (debug, info, warn, error)\n",
                cfg.log_level);
        sl_config_deinit(&cfg);
        return 2;
    }
    sl_log_level = level;
    if (strlen(cfg.account) != 12 || strspn(cfg.account, "0123456789") != 12) {
        fprintf(stderr, "sluiced: --account must be 12 digits, got \"%s\"\n", cfg.account);
        sl_config_deinit(&cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sl_log_hook_libevent();
    app.base = event_base_new();
    if (sl_store_open(app.base, cfg.store, &app.store, err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "sluiced: %s\n", err);
        event_base_free(app.base);
        sl_config_deinit(&cfg);
        return 2;
    }
    so.region = cfg.region;
    so.account = cfg.account;
    so.advertise_url = cfg.advertise_url;
    app.sqs = sl_sqs_create(app.base, app.store, &so);
    app.metrics = sl_metrics_create();
    app.http = sl_http_create(app.base, cfg.listen, app.sqs, app.store, app.metrics, err,
                              sizeof(err));
    if (app.http == NULL) {
        fprintf(stderr, "sluiced: %s\n", err);
        app.exit_code = 1;
        goto out;
    }
    app.cfg = &cfg;
    app.registry = sl_registry_create(app.base, app.store, cfg.region, cfg.account);
    sl_http_set_registry(app.http, app.registry);
    {
        sl_fanout_opts_t fo = { cfg.region, cfg.account, 0 };
        char base_url[300];

        app.fanout = sl_fanout_create(app.base, app.store, app.registry, &fo);
        if (cfg.advertise_url && *cfg.advertise_url)
            snprintf(base_url, sizeof(base_url), "%s", cfg.advertise_url);
        else
            snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", sl_http_port(app.http));
        sl_fanout_set_base_url(app.fanout, base_url);
        app.sns = sl_sns_create(app.store, app.fanout);
        sl_http_set_sns(app.http, app.sns);
        sl_fanout_load(app.fanout, on_topics_loaded, &app);
    }
    if (cfg.queues && json_array_size(cfg.queues))
        apply_config_queues(&app, cfg.queues);
    else
        start_registry(&app);
    sigint_ev = evsignal_new(app.base, SIGINT, on_signal, &app);
    sigterm_ev = evsignal_new(app.base, SIGTERM, on_signal, &app);
    event_add(sigint_ev, NULL);
    event_add(sigterm_ev, NULL);
    {
        /* Never log a password from the store URL. */
        char shown[256];
        const char *at = strchr(cfg.store, '@'), *scheme = strstr(cfg.store, "://");

        if (at && scheme && scheme < at)
            snprintf(shown, sizeof(shown), "%.*s***%s", (int)(scheme + 3 - cfg.store), cfg.store,
                     at);
        else
            snprintf(shown, sizeof(shown), "%s", cfg.store);
        sl_log(SL_LOG_INFO, "sluiced ready listen=%s port=%d store=%s region=%s version=%s",
               cfg.listen, sl_http_port(app.http), shown, cfg.region, SLUICE_VERSION);
    }
    event_base_dispatch(app.base);
    event_free(sigint_ev);
    event_free(sigterm_ev);
out:
    sl_http_destroy(app.http);
    sl_sns_destroy(app.sns);
    sl_fanout_destroy(app.fanout);
    sl_registry_destroy(app.registry);
    sl_sqs_destroy(app.sqs);
    sl_store_destroy(app.store);
    sl_metrics_destroy(app.metrics);
    event_base_free(app.base);
    sl_config_deinit(&cfg);
    return app.exit_code;
}
