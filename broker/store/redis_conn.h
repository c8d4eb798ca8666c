/* redis_conn.h - the redis store's connections to one Redis server.
 *
 * Two hiredis async connections ("links") on the store's libevent loop: one for
 * commands (scripts are loaded on it at every connect), one subscribed to the
 * store's notification channel. Each link is an explicit state machine with
 * reconnects and backoff; each command has a deadline (hiredis 0.14 has no
 * command timeouts). Commands are submitted in RESP form and their callback
 * runs exactly once, never inside the submitting call. Not thread-safe: the
 * loop's thread only. */
#ifndef SLUICE_STORE_REDIS_CONN_H
#define SLUICE_STORE_REDIS_CONN_H

#include "codec.h"
#include "redis_scripts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct redisReply;

typedef struct sl_rconn sl_rconn_t;

typedef enum sl_rlink_state {
    SL_RLINK_CLOSED,            /* no connection; a reconnect is scheduled (backoff) */
    SL_RLINK_CONNECTING,        /* connecting, then AUTH/SELECT/SCRIPT LOAD or SUBSCRIBE */
    SL_RLINK_READY,             /* serving */
} sl_rlink_state_t;

#define SL_RCONN_DEFAULT_PREFIX "sluice:"
#define SL_RCONN_DEFAULT_TIMEOUT_MS 5000
#define SL_RCONN_BACKOFF_MIN_MS 100
#define SL_RCONN_BACKOFF_MAX_MS 2000
#define SL_RCONN_MIN_REDIS 7            /* major version the scripts need */

/* What a redis:// URL says. */
typedef struct sl_rconn_cfg {
    char *host;                 /* name, IPv4 or IPv6 address (no brackets) */
    int port;
    char *user;                 /* ACL user for AUTH, or NULL */
    char *password;             /* or NULL */
    int db;
    char *prefix;               /* key prefix, default "sluice:" */
    int64_t timeout_ms;         /* per command */
} sl_rconn_cfg_t;

/* Parses redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P&timeout=MS]
 * (user, password and prefix percent-decoded). Returns SL_OK and fills cfg
 * (caller deinits), or SL_EINVAL with a reason in errbuf (cfg left empty);
 * rediss:// is refused: this hiredis has no TLS. */
int sl__rconn_parse_url(const char *url, sl_rconn_cfg_t *cfg, char *errbuf, size_t errlen);
void sl__rconn_cfg_deinit(sl_rconn_cfg_t *cfg);

/* A command being built in RESP. Give the argument count first. */
typedef struct sl_resp {
    sl_buf_t b;
    size_t argc, added;
    size_t hdr_end;             /* end of "*argc\r\n" */
    size_t sha_end;             /* script calls: end of the sha argument */
    int script;                 /* sl_rscript_t, or -1 */
} sl_resp_t;

void sl__resp_init(sl_resp_t *r, size_t argc);
/* EVALSHA of script s with no keys and nargs arguments to follow. */
void sl__resp_script(sl_resp_t *r, sl_rscript_t s, size_t nargs);
void sl__resp_arg(sl_resp_t *r, const void *p, size_t n);
void sl__resp_str(sl_resp_t *r, const char *s);
void sl__resp_i64(sl_resp_t *r, int64_t v);
/* Appends the nargs arguments another command p holds (a command built with
 * sl__resp_init(p, nargs), header excluded). */
void sl__resp_args_of(sl_resp_t *r, const sl_resp_t *p);
/* Writes v in decimal to out (no NUL; room for 20 digits, or for as many as v has);
 * returns the digits written (1..20). */
size_t sl__dec_u64(char *out, uint64_t v);
void sl__resp_deinit(sl_resp_t *r);

/* Status a reply callback gets when the connection is destroyed with the
 * command pending: release what belongs to the command and call nothing else.
 * Never an SL_E* code. */
#define SL_RCONN_CANCELLED 1

/* status: SL_OK with r (borrowed for the call; never an error reply),
 * SL_EBACKEND (not connected, connection lost, or Redis answered an error,
 * which is logged), SL_ETIMEDOUT, or SL_RCONN_CANCELLED. */
typedef void (*sl_rconn_reply_fn)(void *arg, int status, struct redisReply *r);

typedef struct sl_rconn_hooks {
    /* A message on the subscribed channel (payload borrowed). */
    void (*message)(void *arg, const char *payload, size_t len);
    /* The subscriber link (re)connected; notifications may have been missed. */
    void (*sub_ready)(void *arg, bool first);
    void *arg;
} sl_rconn_hooks_t;

/* New connection manager on base (caller destroys); starts connecting at once.
 * cfg is copied. channel: what the subscriber link subscribes to. */
sl_rconn_t *sl__rconn_create(struct event_base *base, const sl_rconn_cfg_t *cfg,
                             const char *channel, const sl_rconn_hooks_t *hooks);
/* Pending callbacks get SL_RCONN_CANCELLED; safe inside any callback of c.
 * NULL is a no-op. */
void sl__rconn_destroy(sl_rconn_t *c);
/* Sends r (taken over: r is left empty). fn runs exactly once, later. While
 * the command link is connecting the command waits; while it is closed the
 * command fails with SL_EBACKEND on the next loop turn. */
void sl__rconn_submit(sl_rconn_t *c, sl_resp_t *r, sl_rconn_reply_fn fn, void *arg);
sl_rlink_state_t sl__rconn_state(const sl_rconn_t *c);          /* the command link */
bool sl__rconn_sub_is_ready(const sl_rconn_t *c);
const char *sl__rlink_state_name(sl_rlink_state_t s);

#endif
