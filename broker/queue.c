/* queue.c - queue settings: defaults, copies, comparison, name rules. */
#include "sluice/queue.h"
#include "sluice/mem.h"

#include <string.h>

void
sl_queue_cfg_init(sl_queue_cfg_t *c)
{
    memset(c, 0, sizeof(*c));
    c->visibility_s = SL_QUEUE_DEFAULT_VISIBILITY_S;
    c->retention_s = SL_QUEUE_DEFAULT_RETENTION_S;
    c->max_size = SL_QUEUE_DEFAULT_MAX_SIZE;
    sl_kvlist_init(&c->extra);
}

void
sl_queue_cfg_deinit(sl_queue_cfg_t *c)
{
    sl_free(c->redrive_policy);
    sl_free(c->dlq_name);
    sl_kvlist_deinit(&c->extra);
    c->redrive_policy = c->dlq_name = NULL;
}

void
sl_queue_cfg_copy(sl_queue_cfg_t *dst, const sl_queue_cfg_t *src)
{
    *dst = *src;
    dst->redrive_policy = src->redrive_policy ? sl_strdup(src->redrive_policy) : NULL;
    dst->dlq_name = src->dlq_name ? sl_strdup(src->dlq_name) : NULL;
    sl_kvlist_init(&dst->extra);
    sl_kvlist_copy(&dst->extra, &src->extra);
}

static bool
str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool
sl_queue_cfg_equal(const sl_queue_cfg_t *a, const sl_queue_cfg_t *b)
{
    return a->fifo == b->fifo && a->content_dedup == b->content_dedup &&
           a->visibility_s == b->visibility_s && a->delay_s == b->delay_s &&
           a->retention_s == b->retention_s && a->max_size == b->max_size &&
           a->wait_s == b->wait_s && str_eq(a->dlq_name, b->dlq_name) &&
           a->max_receives == b->max_receives && sl_kvlist_equal(&a->extra, &b->extra);
}

bool
sl_queue_name_is_valid(const char *name)
{
    size_t n = strlen(name), body = n;

    if (n > 5 && strcmp(name + n - 5, ".fifo") == 0)
        body = n - 5;
    if (n == 0 || n > SL_QUEUE_NAME_MAX || body == 0)
        return false;
    for (size_t i = 0; i < body; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}
