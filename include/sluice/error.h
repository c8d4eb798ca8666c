/* error.h - the error codes every sluice action returns.
 * Actions return SL_OK (0) or one negative SL_E* code; predicates return bool.
 * Retry and dead-letter decisions switch on these codes, so keep them few.
 * Guarded by SLUICE_ERROR_H. */
#ifndef SLUICE_ERROR_H
#define SLUICE_ERROR_H

enum {
    SL_OK = 0,
    SL_ENOMEM = -1,     /* an allocation with a wire-given size failed */
    SL_EINVAL = -2,     /* bad argument or value */
    SL_ENOTFOUND = -3,  /* no such queue, message, key */
    SL_EEXIST = -4,     /* already exists with other settings */
    SL_EFULL = -5,      /* a limit was reached */
    SL_ETIMEDOUT = -6,  /* a deadline passed */
    SL_EPROTO = -7,     /* malformed input */
    SL_EBACKEND = -8,   /* the store's backend failed (retryable) */
    SL_EAGAIN = -9,     /* try again later / need more input */
    SL_ESTATE = -10,    /* not allowed in the object's current state */
};

/* Static string naming rc ("SL_ENOTFOUND"); never NULL. */
const char *sl_strerror(int rc);

#endif
