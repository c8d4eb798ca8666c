/* function_json.h - function specs as JSON documents (store and native API). */
#ifndef SLUICE_FUNCTION_JSON_H
#define SLUICE_FUNCTION_JSON_H

#include "sluice/function.h"

#include <jansson.h>
#include <stdbool.h>

const char *sl_function_kind_name(sl_function_kind_t k);
bool sl_function_name_is_valid(const char *name);
/* Fills f (initialised by the caller) from doc; false with err filled when a
 * value is wrong or a kind lacks what it needs (process: command; http: url;
 * native: library). */
bool sl_function_spec_from_json(sl_function_spec_t *f, const json_t *doc, char *err,
                                size_t errlen);
json_t *sl_function_spec_to_json(const sl_function_spec_t *f);

#endif
