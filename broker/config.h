/* config.h - sluiced's settings: defaults, then sluice.yaml, then flags.
 * The YAML file is read into a JSON tree (libyaml events -> jansson), so the
 * declared resources can be applied through the same operations clients use. */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <jansson.h>
#include <stddef.h>

typedef struct sl_config {
    char *listen;           /* "127.0.0.1:9324" */
    char *store;            /* "memory" */
    char *region;           /* "us-east-1" */
    char *account;          /* "000000000000" */
    char *advertise_url;    /* NULL = from each request's Host */
    char *log_level;        /* "info" */
    char *sns_ca_file;      /* extra CA certificates for https subscribers; NULL = none */
    json_t *queues;         /* array of {name, attributes, tags}, or NULL */
    json_t *topics;         /* array of {name, attributes, tags, subscriptions: [{protocol,
                             * endpoint, attributes}]}, or NULL */
    json_t *functions;      /* array of function documents (registry.h), or NULL */
    json_t *triggers;       /* array of trigger documents, or NULL */
} sl_config_t;

void sl_config_init(sl_config_t *c);
void sl_config_deinit(sl_config_t *c);

/* Reads a YAML document into a new JSON value (mappings -> objects, sequences ->
 * arrays, scalars -> strings). Returns NULL with errbuf filled on error. */
json_t *sl_yaml_load(const char *path, char *errbuf, size_t errlen);

/* Applies a sluice.yaml file onto c. Returns SL_OK or SL_EINVAL (errbuf says
 * what and where). Unknown top-level keys are errors, so typos do not pass. */
int sl_config_load(sl_config_t *c, const char *path, char *errbuf, size_t errlen);

#endif
