/* filter.c - the one filter matcher: SNS filter policies and Lambda FilterCriteria.
 * Both speak the EventBridge pattern language (SNS a subset of it, with limits), so one
 * compiler builds one tree for both and the dialect only decides what is refused.
 *
 * A pattern compiles into nodes (pattern objects) whose children are leaves (pattern
 * arrays: exact values in per-type tables plus operator matchers with their constants
 * already parsed) or further nodes; "$or" adds groups of alternative nodes evaluated at
 * the same place. Everything lives in one arena owned by the filter, so a filter is a few
 * allocations and destroying it is a walk over its chunks.
 *
 * Matching follows EventBridge where it is subtle:
 * - Keys are joined with dots, as event-ruler does: {"a": {"b": [..]}} and {"a.b": [..]}
 *   are the same pattern, and both match {"a": {"b": 1}} and {"a.b": 1}. A pattern node is
 *   therefore matched against a "view": the event objects that can hold its keys, each with
 *   the offset into the dotted path its keys are relative to. Without dotted event keys a
 *   view is one object and a lookup is one hash probe.
 * - Only leaves (non-object values, array elements included) are values: `exists` and
 *   every value test ignore objects, and an empty array holds no value.
 * - Arrays of objects are matched element by element (event-ruler's "array consistency"):
 *   two keys under one array must match within the same element.
 * - A value test matches when any value at the path passes any test in the array;
 *   anything-but needs a value to be present, and passes values of other types.
 * Recursion depth is bounded by the compiled pattern (SL_FILTER_MAX_DEPTH) and by
 * ARRAY_DEPTH_MAX for nested event arrays, never by the event alone. Work is bounded too:
 * element-by-element matching costs event size x pattern size, except that dotted event
 * keys holding arrays at several levels of one path multiply the branches. A match
 * therefore has a budget of MATCH_BUDGET steps; a hostile event that exhausts it is
 * matched again with arrays merged instead of tried one element at a time (event-ruler's
 * older semantics), which is polynomial. Only such events can see the difference. */
#include "sluice/filter.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "filter_text.h"
#include "sluice/error.h"
#include "sluice/mem.h"

#define VIEW_INLINE 16          /* view entries kept on the stack before the heap */
#define ARRAY_DEPTH_MAX 32      /* nested event arrays looked into; deeper ones hold nothing */
#define MATCH_BUDGET (1L << 18) /* lookups and array elements before merged-array mode */
#define ARENA_CHUNK_MIN 1024
#define ARENA_CHUNK_MAX 65536

/* ---- Compiled form ---- */

enum { LIT_NULL = 1, LIT_TRUE = 2, LIT_FALSE = 4 };    /* leaf_t.lits */
enum { EX_TRUE = 1, EX_FALSE = 2 };                     /* leaf_t.exists */

typedef enum {
    M_PREFIX,
    M_SUFFIX,
    M_PREFIX_CI,                /* str is folded */
    M_SUFFIX_CI,
    M_EQ_CI,
    M_WILD,
    M_NUMERIC,
    M_CIDR,
    M_NOT_VALUES,               /* anything-but: strings and numbers */
    M_NOT_PREFIX,               /* anything-but {"prefix"}: list in not.strs */
    M_NOT_SUFFIX,
    M_NOT_EQ_CI,                /* folded */
    M_NOT_WILD,
} mkind_t;

typedef struct fstr {
    const char *s;              /* NUL-terminated copy; may hold NULs, see len */
    size_t len;
} fstr_t;

typedef struct matcher {
    mkind_t kind;
    union {
        fstr_t str;
        sl__filter_wild_t wild;
        struct {
            double lo, hi;      /* -INFINITY / INFINITY when unbounded */
            bool lo_incl, hi_incl;
        } num;
        struct {
            int fam;            /* 4 or 6 */
            uint8_t net[16], mask[16];
        } cidr;
        struct {
            const fstr_t *strs;
            uint32_t nstrs;
            const double *nums;
            uint32_t nnums;
            const sl__filter_wild_t *wilds;
            uint32_t nwilds;
        } not;
    } u;
} matcher_t;

typedef struct leaf {
    const fstr_t *strs;         /* exact strings */
    uint32_t nstrs;
    const double *nums;         /* exact numbers */
    uint32_t nnums;
    const matcher_t *ms;
    uint32_t nms;
    uint8_t lits;               /* LIT_*: exact null, true, false */
    uint8_t exists;             /* EX_* */
} leaf_t;

typedef struct fnode fnode_t;

typedef struct fchild {
    const char *path;           /* dotted path from the event root; not NUL-terminated */
    uint32_t pathlen;
    bool is_leaf;
    uint32_t nvalues;           /* leaf: entries of the pattern array (SNS combinations) */
    union {
        leaf_t leaf;
        const fnode_t *node;
    } u;
} fchild_t;

typedef struct orgroup {
    const fnode_t **alts;       /* at least 2 */
    uint32_t nalts;
} orgroup_t;

struct fnode {
    fchild_t *kids;             /* leaves first: they are the cheap tests */
    uint32_t nkids;
    orgroup_t *ors;
    uint32_t nors;
};

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;           /* bytes of data */
    max_align_t data[];
} chunk_t;

struct sl_filter {
    chunk_t *chunks;
    const fnode_t *root;
    sl_filter_dialect_t dialect;
};

/* ---- Compiler ---- */

typedef struct cctx {
    sl_filter_t *f;
    sl_filter_dialect_t d;
    char *err;
    size_t errlen;
} cctx_t;

static const char *const op_names[] = {
    "prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "cidr",
    "wildcard",
};

/* Zeroed, 16-byte aligned, lives until the filter is destroyed. */
static void *
arena_alloc(sl_filter_t *f, size_t n)
{
    chunk_t *c = f->chunks;
    void *p;

    n = (n + 15) & ~(size_t)15;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = c != NULL && c->cap < ARENA_CHUNK_MAX ? c->cap * 2 : ARENA_CHUNK_MIN;

        if (c != NULL && c->cap >= ARENA_CHUNK_MAX)
            cap = ARENA_CHUNK_MAX;
        if (cap < n)
            cap = n;
        c = sl_malloc(sizeof(*c) + cap);
        c->next = f->chunks;
        c->used = 0;
        c->cap = cap;
        f->chunks = c;
    }
    p = (unsigned char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static int fail(cctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(cctx_t *c, const char *fmt, ...)
{
    va_list ap;

    if (c->errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return SL_EPROTO;
}

static bool
is_lambda(const cctx_t *c)
{
    return c->d == SL_FILTER_LAMBDA;
}

static fstr_t
copy_str(cctx_t *c, const char *s, size_t n, bool fold)
{
    char *p = arena_alloc(c->f, n + 1);

    if (fold)
        sl__filter_fold(s, n, p);
    else
        memcpy(p, s, n);
    return (fstr_t){p, n};
}

static fstr_t
copy_jstr(cctx_t *c, const json_t *s, bool fold)
{
    return copy_str(c, json_string_value(s), json_string_length(s), fold);
}

static double
jnum(const json_t *x)
{
    return json_is_integer(x) ? (double)json_integer_value(x) : json_real_value(x);
}

static bool
is_op_name(const char *k)
{
    size_t i;

    for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
        if (strcmp(k, op_names[i]) == 0)
            return true;
    return false;
}

/* EventBridge's rule: "$or" is the operator only when it holds an array of at least two
 * objects none of which uses an operator name as a key; otherwise it is a plain key. */
static bool
is_or(const char *key, const json_t *v)
{
    const char *k;
    const json_t *e, *x;
    size_t i;

    if (strcmp(key, "$or") != 0 || !json_is_array(v) || json_array_size(v) < 2)
        return false;
    json_array_foreach(v, i, e) {
        if (!json_is_object(e))
            return false;
        json_object_foreach((json_t *)e, k, x)
            if (is_op_name(k))
                return false;
    }
    return true;
}

static int
compile_wild(cctx_t *c, const json_t *s, sl__filter_wild_t *w)
{
    size_t n = json_string_length(s);
    char *lit = arena_alloc(c->f, n + 1);
    uint32_t *len = arena_alloc(c->f, (n + 1) * sizeof(*len));
    int k = sl__filter_wild_compile(json_string_value(s), n, SL_FILTER_MAX_WILDCARDS, lit, len,
                                    c->err, c->errlen);

    if (k < 0)
        return SL_EPROTO;
    w->lit = lit;
    w->len = len;
    w->nchunks = (uint32_t)k;
    return SL_OK;
}

/* {"numeric": ["=", x]} or one or two bounds: [">", a], [">=", a, "<", b], ... */
static int
compile_numeric(cctx_t *c, const json_t *v, matcher_t *m)
{
    bool have_lo = false, have_hi = false;
    size_t n, i;

    if (!json_is_array(v))
        return fail(c, "Value of numeric must be an array.");
    n = json_array_size(v);
    if (n == 0)
        return fail(c, "Empty arrays are not allowed");
    if (n > 4)
        return fail(c, "Too many elements in numeric expression");
    m->kind = M_NUMERIC;
    m->u.num.lo = -INFINITY;
    m->u.num.hi = INFINITY;
    for (i = 0; i < n; i += 2) {
        const json_t *o = json_array_get(v, i), *x = json_array_get(v, i + 1);
        const char *op;
        double d;

        if (!json_is_string(o))
            return fail(c, "Invalid member in numeric match: expected one of =, <, <=, >, >=");
        op = json_string_value(o);
        if (x == NULL || !json_is_number(x))
            return fail(c, "Value of %s must be numeric", op);
        d = jnum(x);
        if (strcmp(op, "=") == 0) {
            if (n != 2)
                return fail(c, "\"=\" must be the only operator in a numeric match");
            m->u.num.lo = m->u.num.hi = d;
            m->u.num.lo_incl = m->u.num.hi_incl = true;
        } else if (strcmp(op, ">") == 0 || strcmp(op, ">=") == 0) {
            if (have_lo)
                return fail(c, "Bad numeric range: more than one lower bound");
            have_lo = true;
            m->u.num.lo = d;
            m->u.num.lo_incl = op[1] == '=';
        } else if (strcmp(op, "<") == 0 || strcmp(op, "<=") == 0) {
            if (have_hi)
                return fail(c, "Bad numeric range: more than one upper bound");
            have_hi = true;
            m->u.num.hi = d;
            m->u.num.hi_incl = op[1] == '=';
        } else {
            return fail(c, "Unrecognized numeric range operator: %s", op);
        }
    }
    if (have_lo && have_hi && (m->u.num.lo > m->u.num.hi
                               || (m->u.num.lo == m->u.num.hi
                                   && !(m->u.num.lo_incl && m->u.num.hi_incl))))
        return fail(c, "Bottom must be less than top");
    return SL_OK;
}

/* Checks the value of anything-but {op: v}: a string or, where list_ok, a non-empty array of
 * strings; sets *n to the number of strings. Entry i is then str_at(v, i). */
static int
check_str_list(cctx_t *c, const char *op, const json_t *v, bool list_ok, bool empty_ok,
               size_t *n)
{
    size_t i;

    if (json_is_string(v)) {
        *n = 1;
    } else if (json_is_array(v) && list_ok) {
        if ((*n = json_array_size(v)) == 0)
            return fail(c, "Empty arrays are not allowed");
        for (i = 0; i < *n; i++)
            if (!json_is_string(json_array_get(v, i)))
                return fail(c, "Inside anything-but %s list, only strings are allowed", op);
    } else {
        return fail(c, "anything-but %s match pattern must be a string%s", op,
                    list_ok ? " or an array of strings" : "");
    }
    for (i = 0; i < *n && !empty_ok; i++)
        if (json_string_length(json_is_string(v) ? v : json_array_get(v, i)) == 0)
            return fail(c, "Empty %s is not allowed in anything-but", op);
    return SL_OK;
}

static const json_t *
str_at(const json_t *v, size_t i)
{
    return json_is_string(v) ? v : json_array_get(v, i);
}

static int
compile_anything_but(cctx_t *c, const json_t *v, matcher_t *m)
{
    const json_t *x;
    const char *op;
    size_t n, i, ns = 0, nn = 0;
    fstr_t *strs;
    double *nums;
    int rc;

    if (json_is_string(v) || json_is_number(v) || json_is_array(v)) {
        n = json_is_array(v) ? json_array_size(v) : 1;
        if (n == 0)
            return fail(c, "Empty arrays are not allowed");
        strs = arena_alloc(c->f, n * sizeof(*strs));
        nums = arena_alloc(c->f, n * sizeof(*nums));
        for (i = 0; i < n; i++) {
            x = json_is_array(v) ? json_array_get(v, i) : v;
            if (json_is_string(x))
                strs[ns++] = copy_jstr(c, x, false);
            else if (json_is_number(x))
                nums[nn++] = jnum(x);
            else
                return fail(c, "Inside anything-but list, only strings and numbers are allowed");
        }
        m->kind = M_NOT_VALUES;
        m->u.not.strs = strs;
        m->u.not.nstrs = (uint32_t)ns;
        m->u.not.nums = nums;
        m->u.not.nnums = (uint32_t)nn;
        return SL_OK;
    }
    if (!json_is_object(v))
        return fail(c, "Value of anything-but must be an array or single string/number value.");
    if (json_object_size(v) != 1)
        return fail(c, json_object_size(v) == 0 ? "Empty objects are not allowed"
                                                : "Only one key allowed in match expression");
    op = json_object_iter_key(json_object_iter((json_t *)v));
    x = json_object_iter_value(json_object_iter((json_t *)v));
    if (strcmp(op, "prefix") == 0 || strcmp(op, "suffix") == 0) {
        if ((rc = check_str_list(c, op, x, is_lambda(c), false, &n)) < 0)
            return rc;
        m->kind = op[0] == 'p' ? M_NOT_PREFIX : M_NOT_SUFFIX;
    } else if (is_lambda(c) && strcmp(op, "equals-ignore-case") == 0) {
        if ((rc = check_str_list(c, op, x, true, true, &n)) < 0)
            return rc;
        m->kind = M_NOT_EQ_CI;
    } else if (is_lambda(c) && strcmp(op, "wildcard") == 0) {
        sl__filter_wild_t *w;

        if ((rc = check_str_list(c, op, x, true, true, &n)) < 0)
            return rc;
        w = arena_alloc(c->f, n * sizeof(*w));
        for (i = 0; i < n; i++)
            if ((rc = compile_wild(c, str_at(x, i), &w[i])) < 0)
                return rc;
        m->kind = M_NOT_WILD;
        m->u.not.wilds = w;
        m->u.not.nwilds = (uint32_t)n;
        return SL_OK;
    } else {
        return fail(c, "Unsupported anything-but pattern: %s", op);
    }
    strs = arena_alloc(c->f, n * sizeof(*strs));
    for (i = 0; i < n; i++)
        strs[i] = copy_jstr(c, str_at(x, i), m->kind == M_NOT_EQ_CI);
    m->u.not.strs = strs;
    m->u.not.nstrs = (uint32_t)n;
    return SL_OK;
}

/* prefix/suffix: a string, or in the Lambda dialect {"equals-ignore-case": string}. */
static int
compile_affix(cctx_t *c, const char *op, const json_t *v, matcher_t *m)
{
    bool pre = op[0] == 'p';
    const json_t *x;

    if (json_is_string(v)) {
        m->kind = pre ? M_PREFIX : M_SUFFIX;
        m->u.str = copy_jstr(c, v, false);
        return SL_OK;
    }
    if (is_lambda(c) && json_is_object(v) && json_object_size(v) == 1
        && (x = json_object_get(v, "equals-ignore-case")) != NULL) {
        if (!json_is_string(x))
            return fail(c, "equals-ignore-case match pattern must be a string");
        m->kind = pre ? M_PREFIX_CI : M_SUFFIX_CI;
        m->u.str = copy_jstr(c, x, true);
        return SL_OK;
    }
    return fail(c, "%s match pattern must be a string", op);
}

/* One {"operator": value} entry of a pattern array. Sets *used when it filled m. */
static int
compile_op(cctx_t *c, const json_t *o, leaf_t *l, matcher_t *m, bool *used)
{
    const char *op;
    const json_t *v;

    *used = true;
    if (json_object_size(o) != 1)
        return fail(c, json_object_size(o) == 0 ? "Empty objects are not allowed"
                                                : "Only one key allowed in match expression");
    op = json_object_iter_key(json_object_iter((json_t *)o));
    v = json_object_iter_value(json_object_iter((json_t *)o));
    if (strcmp(op, "exists") == 0) {
        if (!json_is_boolean(v))
            return fail(c, "exists match pattern must be either true or false.");
        l->exists |= json_is_true(v) ? EX_TRUE : EX_FALSE;
        *used = false;
        return SL_OK;
    }
    if (strcmp(op, "prefix") == 0 || strcmp(op, "suffix") == 0)
        return compile_affix(c, op, v, m);
    if (strcmp(op, "equals-ignore-case") == 0) {
        if (!json_is_string(v))
            return fail(c, "equals-ignore-case match pattern must be a string");
        m->kind = M_EQ_CI;
        m->u.str = copy_jstr(c, v, true);
        return SL_OK;
    }
    if (strcmp(op, "wildcard") == 0 && is_lambda(c)) {
        if (!json_is_string(v))
            return fail(c, "wildcard match pattern must be a string");
        m->kind = M_WILD;
        return compile_wild(c, v, &m->u.wild);
    }
    if (strcmp(op, "numeric") == 0)
        return compile_numeric(c, v, m);
    if (strcmp(op, "cidr") == 0) {
        if (!json_is_string(v))
            return fail(c, "cidr match pattern must be a string");
        m->kind = M_CIDR;
        m->u.cidr.fam = sl__filter_cidr_parse(json_string_value(v), json_string_length(v),
                                               m->u.cidr.net, m->u.cidr.mask);
        if (m->u.cidr.fam == 0)
            return fail(c, "Malformed CIDR: %.80s", json_string_value(v));
        return SL_OK;
    }
    if (strcmp(op, "anything-but") == 0)
        return compile_anything_but(c, v, m);
    return fail(c, "Unrecognized match type %.80s", op);
}

static int
compile_leaf(cctx_t *c, const json_t *arr, fchild_t *k)
{
    leaf_t *l = &k->u.leaf;
    size_t n = json_array_size(arr), i, ns = 0, nn = 0, nm = 0;
    const json_t *e;
    fstr_t *strs;
    double *nums;
    matcher_t *ms;
    int rc;

    if (n == 0)
        return fail(c, "Empty arrays are not allowed");
    json_array_foreach(arr, i, e) {
        if (json_is_string(e))
            ns++;
        else if (json_is_number(e))
            nn++;
        else if (json_is_object(e))
            nm++;
        else if (json_is_array(e))
            return fail(c, "Match value must be String, number, true, false, or null");
    }
    strs = ns > 0 ? arena_alloc(c->f, ns * sizeof(*strs)) : NULL;
    nums = nn > 0 ? arena_alloc(c->f, nn * sizeof(*nums)) : NULL;
    ms = nm > 0 ? arena_alloc(c->f, nm * sizeof(*ms)) : NULL;
    json_array_foreach(arr, i, e) {
        bool used;

        switch (json_typeof(e)) {
        case JSON_STRING:
            strs[l->nstrs++] = copy_jstr(c, e, false);
            break;
        case JSON_INTEGER:
        case JSON_REAL:
            nums[l->nnums++] = jnum(e);
            break;
        case JSON_TRUE:
            l->lits |= LIT_TRUE;
            break;
        case JSON_FALSE:
            l->lits |= LIT_FALSE;
            break;
        case JSON_NULL:
            l->lits |= LIT_NULL;
            break;
        default:
            if ((rc = compile_op(c, e, l, &ms[l->nms], &used)) < 0)
                return rc;
            if (used)
                l->nms++;
            break;
        }
    }
    l->strs = strs;
    l->nums = nums;
    l->ms = ms;
    k->is_leaf = true;
    k->nvalues = (uint32_t)n;
    return SL_OK;
}

static int compile_node(cctx_t *c, const json_t *obj, const char *path, size_t pathlen,
                        unsigned depth, const fnode_t **out);

/* Fills k for the value v at path[0..pathlen), of which path[start..] is the pattern key.
 * A key with dots becomes a chain of one-child nodes, one per segment. */
static int
compile_kid(cctx_t *c, const char *path, size_t pathlen, size_t start, const json_t *v,
            unsigned depth, fchild_t *k)
{
    const char *dot = memchr(path + start, '.', pathlen - start);

    if (dot != NULL) {
        fnode_t *n;

        if (depth + 1 > SL_FILTER_MAX_DEPTH)
            return fail(c, "Filter policy is nested too deeply");
        n = arena_alloc(c->f, sizeof(*n));
        n->kids = arena_alloc(c->f, sizeof(*n->kids));
        n->nkids = 1;
        k->path = path;
        k->pathlen = (uint32_t)(dot - path);
        k->u.node = n;
        return compile_kid(c, path, pathlen, (size_t)(dot - path) + 1, v, depth + 1, n->kids);
    }
    k->path = path;
    k->pathlen = (uint32_t)pathlen;
    if (json_is_array(v))
        return compile_leaf(c, v, k);
    if (json_is_object(v)) {
        if (c->d == SL_FILTER_SNS_ATTRS)
            return fail(c, "Filter policy scope MessageAttributes does not support nested "
                        "filter policy");
        return compile_node(c, v, path, pathlen, depth + 1, &k->u.node);
    }
    return fail(c, "Value of %.*s must be an object or an array", (int)(pathlen - start),
                path + start);
}

static int
compile_node(cctx_t *c, const json_t *obj, const char *path, size_t pathlen, unsigned depth,
             const fnode_t **out)
{
    fnode_t *n;
    const char *key;
    const json_t *v;
    size_t nkids = 0, nors = 0;
    int pass, rc;

    if (depth > SL_FILTER_MAX_DEPTH)
        return fail(c, "Filter policy is nested too deeply");
    if (json_object_size(obj) == 0)
        return fail(c, "Empty objects are not allowed");
    json_object_foreach((json_t *)obj, key, v) {
        if (is_or(key, v))
            nors++;
        else
            nkids++;
    }
    n = arena_alloc(c->f, sizeof(*n));
    n->kids = nkids > 0 ? arena_alloc(c->f, nkids * sizeof(*n->kids)) : NULL;
    n->ors = nors > 0 ? arena_alloc(c->f, nors * sizeof(*n->ors)) : NULL;
    *out = n;
    /* Two passes put plain leaves before nodes; AND is order-free, leaves are cheaper. */
    for (pass = 0; pass < 2; pass++) {
        json_object_foreach((json_t *)obj, key, v) {
            size_t klen = strlen(key), plen = pathlen > 0 ? pathlen + 1 + klen : klen;
            bool leafy = json_is_array(v) && strchr(key, '.') == NULL;
            char *p;

            if (is_or(key, v) || leafy != (pass == 0))
                continue;
            p = arena_alloc(c->f, plen + 1);
            if (pathlen > 0) {
                memcpy(p, path, pathlen);
                p[pathlen] = '.';
            }
            memcpy(p + plen - klen, key, klen);
            if ((rc = compile_kid(c, p, plen, plen - klen, v, depth, &n->kids[n->nkids++])) < 0)
                return rc;
        }
    }
    json_object_foreach((json_t *)obj, key, v) {
        orgroup_t *g;
        size_t i;
        const json_t *e;

        if (!is_or(key, v))
            continue;
        g = &n->ors[n->nors++];
        g->alts = arena_alloc(c->f, json_array_size(v) * sizeof(*g->alts));
        json_array_foreach(v, i, e) {
            if ((rc = compile_node(c, e, path, pathlen, depth + 1, &g->alts[g->nalts])) < 0)
                return rc;
            g->nalts++;
        }
    }
    return SL_OK;
}

/* SNS's limits, computed without expanding $or: an AND multiplies combinations and adds
 * keys; a $or sums its branches' combinations and counts its widest branch's keys (the
 * keys of one expanded policy). */
static void
node_stats(const fnode_t *n, double *combos, double *keys)
{
    double cb = 1, ks = 0, c1, k1, sum, widest;
    uint32_t i, j;

    for (i = 0; i < n->nkids; i++) {
        if (n->kids[i].is_leaf) {
            cb *= n->kids[i].nvalues;
            ks += 1;
        } else {
            node_stats(n->kids[i].u.node, &c1, &k1);
            cb *= c1;
            ks += k1;
        }
    }
    for (i = 0; i < n->nors; i++) {
        sum = 0;
        widest = 0;
        for (j = 0; j < n->ors[i].nalts; j++) {
            node_stats(n->ors[i].alts[j], &c1, &k1);
            sum += c1;
            if (k1 > widest)
                widest = k1;
        }
        cb *= sum;
        ks += widest;
    }
    *combos = cb;
    *keys = ks;
}

int
sl_filter_compile(const char *json, size_t len, sl_filter_dialect_t d, sl_filter_t **out,
                  char *err, size_t errlen)
{
    cctx_t c = {NULL, d, err, errlen};
    json_error_t je;
    json_t *root = NULL;
    sl_filter_t *f;
    double combos, keys;
    int rc;

    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (d != SL_FILTER_LAMBDA && d != SL_FILTER_SNS && d != SL_FILTER_SNS_ATTRS)
        return fail(&c, "Unknown filter dialect");
    if (len > SL_FILTER_MAX_LEN)
        return fail(&c, "Filter policy is too long (more than %d bytes)", SL_FILTER_MAX_LEN);
    if (json == NULL || (root = json_loadb(json, len, JSON_ALLOW_NUL, &je)) == NULL)
        return fail(&c, "failed to parse JSON: %s", json == NULL ? "no input" : je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail(&c, "Filter policy must be a JSON object");
    }
    f = sl_calloc(1, sizeof(*f));
    f->dialect = d;
    c.f = f;
    if (json_object_size(root) == 0)
        f->root = arena_alloc(f, sizeof(fnode_t));
    else if ((rc = compile_node(&c, root, "", 0, 1, &f->root)) < 0)
        goto out_destroy;
    if (d != SL_FILTER_LAMBDA) {
        node_stats(f->root, &combos, &keys);
        if (keys > SL_FILTER_SNS_MAX_KEYS) {
            rc = fail(&c, "Filter policy can not have more than %d keys",
                      SL_FILTER_SNS_MAX_KEYS);
            goto out_destroy;
        }
        if (combos > SL_FILTER_SNS_MAX_COMBINATIONS) {
            rc = fail(&c, "Filter policy is too complex");
            goto out_destroy;
        }
    }
    json_decref(root);
    *out = f;
    return SL_OK;
out_destroy:
    json_decref(root);
    sl_filter_destroy(f);
    return rc;
}

void
sl_filter_destroy(sl_filter_t *f)
{
    chunk_t *c, *next;

    if (f == NULL)
        return;
    for (c = f->chunks; c != NULL; c = next) {
        next = c->next;
        sl_free(c);
    }
    sl_free(f);
}

/* ---- Matching ---- */

typedef struct vent {
    const json_t *obj;          /* an event object */
    size_t start;               /* its keys continue the dotted path from this offset */
} vent_t;

typedef struct mctx {
    long budget;                /* steps left; < 0: given up, the result is discarded */
    bool merged;                /* arrays of objects merged into one view, no branching */
} mctx_t;

typedef struct val {
    json_type type;
    const char *s;              /* JSON_STRING */
    size_t n;
    double d;                   /* JSON_INTEGER, JSON_REAL */
} val_t;

static bool
str_in(const fstr_t *v, uint32_t n, const char *s, size_t len)
{
    uint32_t i;

    for (i = 0; i < n; i++)
        if (v[i].len == len && memcmp(v[i].s, s, len) == 0)
            return true;
    return false;
}

static bool
num_in(const double *v, uint32_t n, double d)
{
    uint32_t i;

    for (i = 0; i < n; i++)
        if (v[i] == d)
            return true;
    return false;
}

static bool
has_prefix(const val_t *x, const fstr_t *p)
{
    return x->n >= p->len && memcmp(x->s, p->s, p->len) == 0;
}

static bool
has_suffix(const val_t *x, const fstr_t *p)
{
    return x->n >= p->len && memcmp(x->s + x->n - p->len, p->s, p->len) == 0;
}

static bool
eq_ci(const val_t *x, const fstr_t *p)
{
    return x->n == p->len && sl__filter_fold_eq(x->s, p->s, p->len);
}

static bool
cidr_hit(const matcher_t *m, const val_t *x)
{
    uint8_t a[16];
    int i, n = m->u.cidr.fam == 4 ? 4 : 16;

    if (x->n > 64 || sl__filter_ip_parse(x->s, x->n, a) != m->u.cidr.fam)
        return false;
    for (i = 0; i < n; i++)
        if ((a[i] & m->u.cidr.mask[i]) != m->u.cidr.net[i])
            return false;
    return true;
}

static bool
matcher_hit(const matcher_t *m, const val_t *x)
{
    bool str = x->type == JSON_STRING;
    uint32_t i;

    switch (m->kind) {
    case M_PREFIX:
        return str && has_prefix(x, &m->u.str);
    case M_SUFFIX:
        return str && has_suffix(x, &m->u.str);
    case M_PREFIX_CI:
        return str && x->n >= m->u.str.len && sl__filter_fold_eq(x->s, m->u.str.s, m->u.str.len);
    case M_SUFFIX_CI:
        return str && x->n >= m->u.str.len
               && sl__filter_fold_eq(x->s + x->n - m->u.str.len, m->u.str.s, m->u.str.len);
    case M_EQ_CI:
        return str && eq_ci(x, &m->u.str);
    case M_WILD:
        return str && sl__filter_wild_match(&m->u.wild, x->s, x->n);
    case M_NUMERIC:
        if (x->type != JSON_INTEGER && x->type != JSON_REAL)
            return false;
        return (x->d > m->u.num.lo || (m->u.num.lo_incl && x->d == m->u.num.lo))
               && (x->d < m->u.num.hi || (m->u.num.hi_incl && x->d == m->u.num.hi));
    case M_CIDR:
        return str && cidr_hit(m, x);
    case M_NOT_VALUES:
        if (str)
            return !str_in(m->u.not.strs, m->u.not.nstrs, x->s, x->n);
        if (x->type == JSON_INTEGER || x->type == JSON_REAL)
            return !num_in(m->u.not.nums, m->u.not.nnums, x->d);
        return true;
    case M_NOT_PREFIX:
    case M_NOT_SUFFIX:
    case M_NOT_EQ_CI:
        if (!str)
            return true;
        for (i = 0; i < m->u.not.nstrs; i++) {
            const fstr_t *p = &m->u.not.strs[i];

            if (m->kind == M_NOT_PREFIX ? has_prefix(x, p)
                : m->kind == M_NOT_SUFFIX ? has_suffix(x, p) : eq_ci(x, p))
                return false;
        }
        return true;
    case M_NOT_WILD:
        if (!str)
            return true;
        for (i = 0; i < m->u.not.nwilds; i++)
            if (sl__filter_wild_match(&m->u.not.wilds[i], x->s, x->n))
                return false;
        return true;
    }
    return false;
}

/* Does the scalar e pass any test of l? */
static bool
scalar_hit(const leaf_t *l, const json_t *e)
{
    val_t x = {json_typeof(e), NULL, 0, 0};
    uint32_t i;

    switch (x.type) {
    case JSON_STRING:
        x.s = json_string_value(e);
        x.n = json_string_length(e);
        if (str_in(l->strs, l->nstrs, x.s, x.n))
            return true;
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        x.d = jnum(e);
        if (num_in(l->nums, l->nnums, x.d))
            return true;
        break;
    case JSON_TRUE:
        if (l->lits & LIT_TRUE)
            return true;
        break;
    case JSON_FALSE:
        if (l->lits & LIT_FALSE)
            return true;
        break;
    default:
        if (l->lits & LIT_NULL)
            return true;
        break;
    }
    for (i = 0; i < l->nms; i++)
        if (matcher_hit(&l->ms[i], &x))
            return true;
    return false;
}

/* Walks the values in x (x itself, or the scalars of an array, nested arrays included),
 * counting them in *count; true as soon as one passes. */
static bool
leaf_walk(mctx_t *m, const leaf_t *l, const json_t *x, size_t *count, unsigned adepth)
{
    const json_t *e;
    size_t i;

    if (json_is_array(x)) {
        if (adepth >= ARRAY_DEPTH_MAX)
            return false;
        json_array_foreach(x, i, e)
            if (--m->budget < 0 || leaf_walk(m, l, e, count, adepth + 1))
                return true;
        return false;
    }
    if (json_is_object(x))
        return false;
    (*count)++;
    return (l->exists & EX_TRUE) || scalar_hit(l, x);
}

static const json_t *
lookup(mctx_t *m, const fchild_t *k, const vent_t *e)
{
    m->budget--;
    return json_object_getn(e->obj, k->path + e->start, k->pathlen - e->start);
}

static bool
leaf_match(mctx_t *m, const fchild_t *k, const vent_t *v, size_t nv)
{
    size_t i, count = 0;
    const json_t *x;

    for (i = 0; i < nv; i++)
        if ((x = lookup(m, k, &v[i])) != NULL && leaf_walk(m, &k->u.leaf, x, &count, 0))
            return m->budget >= 0;
    return count == 0 && (k->u.leaf.exists & EX_FALSE) && m->budget >= 0;
}

static bool match_node(mctx_t *m, const fnode_t *n, const vent_t *v, size_t nv);

static size_t
count_objects(const json_t *a, unsigned adepth)
{
    const json_t *e;
    size_t i, n = 0;

    if (adepth >= ARRAY_DEPTH_MAX)
        return 0;
    json_array_foreach(a, i, e) {
        if (json_is_object(e))
            n++;
        else if (json_is_array(e))
            n += count_objects(e, adepth + 1);
    }
    return n;
}

static void
append_objects(const json_t *a, size_t start, vent_t *w, size_t *nw, unsigned adepth)
{
    const json_t *e;
    size_t i;

    if (adepth >= ARRAY_DEPTH_MAX)
        return;
    json_array_foreach(a, i, e) {
        if (json_is_object(e))
            w[(*nw)++] = (vent_t){e, start};
        else if (json_is_array(e))
            append_objects(e, start, w, nw, adepth + 1);
    }
}

/* Tries the node of k once per object in the array a (array consistency), with that
 * object in the slot w[nw]. Sets *seen when a has an object at all. */
static bool
match_each(mctx_t *m, const fchild_t *k, vent_t *w, size_t nw, const json_t *a, bool *seen,
           unsigned adepth)
{
    const json_t *e;
    size_t i;

    if (adepth >= ARRAY_DEPTH_MAX)
        return false;
    json_array_foreach(a, i, e) {
        if (--m->budget < 0)
            return false;
        if (json_is_object(e)) {
            *seen = true;
            w[nw] = (vent_t){e, (size_t)k->pathlen + 1};
            if (match_node(m, k->u.node, w, nw + 1))
                return true;
        } else if (json_is_array(e) && match_each(m, k, w, nw, e, seen, adepth + 1)) {
            return true;
        }
    }
    return false;
}

/* A node child: its view is the parent's (for dotted event keys further down) plus the
 * objects found under its key. One array found is matched element by element; several
 * hits (only possible with dotted event keys) are merged into one view. */
static bool
node_match(mctx_t *m, const fchild_t *k, const vent_t *v, size_t nv)
{
    const json_t *hit_inline[VIEW_INLINE], **hit = hit_inline, *arr = NULL;
    vent_t w_inline[VIEW_INLINE] = { { 0 } }, *w = w_inline;  /* zeroed for gcc -O3's sake */
    size_t i, nobj = 0, narr = 0, extra = 0, cap, nw;
    size_t start = (size_t)k->pathlen + 1;
    bool multi, ok, seen = false;

    if (nv > VIEW_INLINE)
        hit = sl_malloc(nv * sizeof(*hit));
    for (i = 0; i < nv; i++) {
        hit[i] = lookup(m, k, &v[i]);
        if (json_is_object(hit[i])) {
            nobj++;
        } else if (json_is_array(hit[i])) {
            narr++;
            arr = hit[i];
        }
    }
    multi = narr > 1 || (narr == 1 && (nobj > 0 || m->merged));
    for (i = 0; multi && i < nv; i++)
        if (json_is_array(hit[i]))
            extra += count_objects(hit[i], 0);
    m->budget -= (long)extra;
    cap = nv + nobj + (multi ? extra : narr);
    if (cap > VIEW_INLINE)
        w = sl_malloc(cap * sizeof(*w));
    if (nv > 0)
        memcpy(w, v, nv * sizeof(*w));
    nw = nv;
    for (i = 0; i < nv; i++) {
        if (json_is_object(hit[i]))
            w[nw++] = (vent_t){hit[i], start};
        else if (multi && json_is_array(hit[i]))
            append_objects(hit[i], start, w, &nw, 0);
    }
    if (narr == 1 && !multi) {
        ok = match_each(m, k, w, nw, arr, &seen, 0);
        if (!seen && m->budget >= 0)
            ok = match_node(m, k->u.node, w, nw);
    } else {
        ok = match_node(m, k->u.node, w, nw);
    }
    if (w != w_inline)
        sl_free(w);
    if (hit != hit_inline)
        sl_free(hit);
    return ok;
}

static bool
match_node(mctx_t *m, const fnode_t *n, const vent_t *v, size_t nv)
{
    uint32_t i, j;

    for (i = 0; i < n->nkids; i++) {
        const fchild_t *k = &n->kids[i];

        if (!(k->is_leaf ? leaf_match(m, k, v, nv) : node_match(m, k, v, nv)))
            return false;
    }
    for (i = 0; i < n->nors; i++) {
        for (j = 0; j < n->ors[i].nalts; j++)
            if (match_node(m, n->ors[i].alts[j], v, nv))
                break;
        if (j == n->ors[i].nalts)
            return false;
    }
    return m->budget >= 0;
}

/* The budget is only checked in consistent mode; merged mode is polynomial. */
static bool
match_root(const sl_filter_t *f, const json_t *event, bool merged)
{
    mctx_t m = {merged ? LONG_MAX : MATCH_BUDGET, merged};
    vent_t root = {event, 0};
    bool ok = json_is_object(event) ? match_node(&m, f->root, &root, 1)
                                    : match_node(&m, f->root, NULL, 0);

    return m.budget >= 0 ? ok : match_root(f, event, true);
}

bool
sl_filter_match(const sl_filter_t *f, const json_t *event)
{
    if (f == NULL)
        return true;
    return match_root(f, event, false);
}
