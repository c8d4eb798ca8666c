/* main.c - sluiced: parse settings (defaults < sluice.yaml < environment <
 * flags), open the store, start the SQS service and the HTTP front end, apply
 * the queues the config declares, and run the loop until SIGINT/SIGTERM. */
#include "api/sns.h"
#include "api/sqs.h"
#include "apply.h"
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
    "  --config FILE          sluice.yaml: settings, and queues, topics, functions and\n"
    "                         triggers to create at start (SLUICE_CONFIG; docs/config.md)\n"
    "  --region NAME          region in ARNs (SLUICE_REGION; default us-east-1)\n"
    "  --account ID           12-digit account in URLs and ARNs (SLUICE_ACCOUNT;\n"
    "                         default 000000000000)\n"
    "  --advertise-url URL    base of the queue URLs handed out, e.g. http://sluice:9324\n"
    "                         (SLUICE_ADVERTISE_URL; default: http:// + the request's Host)\n"
    "  --log-level LEVEL      debug, info, warn, error (SLUICE_LOG_LEVEL; default info)\n"
    "  --sns-ca-file PATH     CA certificates (PEM) that https topic subscribers' certificates\n"
    "                         may chain to, besides the system trust store\n"
    "                         (SLUICE_SNS_CA_FILE; default: the system store only)\n"
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
    int exit_code;
    sl_apply_t *apply;          /* sluice.yaml being applied */
    bool stopping;
} app_t;

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

static void
on_applied(void *arg, int status)
{
    app_t *app = arg;

    if (status != SL_OK) {
        app->exit_code = 1;
        event_base_loopexit(app->base, NULL);
        return;
    }
    sl_log(SL_LOG_DEBUG, "config applied");
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

/* The loop. epoll's changelist folds the add/delete pairs that evhttp makes on every
 * request and response (close detection, read/write toggles) into at most one
 * epoll_ctl per descriptor per loop pass: 8.8 -> 4.1 epoll_ctl calls per process
 * invocation (two Runtime API requests), 6.2 -> 2.1 per http invocation. libevent's
 * one caveat, descriptors cloned with dup(), does not apply: sluiced never puts one on
 * the loop. */
static struct event_base *
new_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *b;

    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    b = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return b ? b : event_base_new();
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
        { "sns-ca-file", required_argument, NULL, 'T' },
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
    env_override(&cfg.sns_ca_file, "SLUICE_SNS_CA_FILE");
    for (int i = 0; i < nflags; i++) {
        char **dst = flags[i].opt == 'l' ? &cfg.listen : flags[i].opt == 's' ? &cfg.store
                   : flags[i].opt == 'r' ? &cfg.region : flags[i].opt == 'a' ? &cfg.account
                   : flags[i].opt == 'u' ? &cfg.advertise_url
                   : flags[i].opt == 'T' ? &cfg.sns_ca_file : &cfg.log_level;

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
    app.base = new_base();
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
    app.registry = sl_registry_create(app.base, app.store, cfg.region, cfg.account);
    sl_http_set_registry(app.http, app.registry);
    {
        sl_fanout_opts_t fo = { cfg.region, cfg.account, 0 };
        char base_url[300];

        app.fanout = sl_fanout_create(app.base, app.store, app.registry, &fo);
        if (cfg.sns_ca_file && *cfg.sns_ca_file &&
            sl_fanout_set_ca_file(app.fanout, cfg.sns_ca_file, err, sizeof(err)) != SL_OK) {
            fprintf(stderr, "sluiced: --sns-ca-file: %s\n", err);
            app.exit_code = 2;
            goto out;
        }
        if (cfg.advertise_url && *cfg.advertise_url)
            snprintf(base_url, sizeof(base_url), "%s", cfg.advertise_url);
        else
            snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", sl_http_port(app.http));
        sl_fanout_set_base_url(app.fanout, base_url);
        app.sns = sl_sns_create(app.store, app.fanout);
        sl_http_set_sns(app.http, app.sns);
        sl_fanout_load(app.fanout, on_topics_loaded, &app);
    }
    app.apply = sl_apply_start(app.base, app.sqs, app.sns, app.registry, cfg.queues,
                               cfg.topics, cfg.functions, cfg.triggers, on_applied, &app);
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
    sl_apply_destroy(app.apply);
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
