/* error.c - names for the SL_E* codes, for logs and CLI messages. */
#include "sluice/error.h"

const char *
sl_strerror(int rc)
{
    switch (rc) {
    case SL_OK:        return "SL_OK";
    case SL_ENOMEM:    return "SL_ENOMEM";
    case SL_EINVAL:    return "SL_EINVAL";
    case SL_ENOTFOUND: return "SL_ENOTFOUND";
    case SL_EEXIST:    return "SL_EEXIST";
    case SL_EFULL:     return "SL_EFULL";
    case SL_ETIMEDOUT: return "SL_ETIMEDOUT";
    case SL_EPROTO:    return "SL_EPROTO";
    case SL_EBACKEND:  return "SL_EBACKEND";
    case SL_EAGAIN:    return "SL_EAGAIN";
    case SL_ESTATE:    return "SL_ESTATE";
    default:           return "SL_E?";
    }
}
