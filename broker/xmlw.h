/* xmlw.h - small helpers for writing XML text into a libevent evbuffer, shared by the
 * SQS and SNS query-protocol response writers. Guarded by SLUICE_XMLW_H. */
#ifndef SLUICE_XMLW_H
#define SLUICE_XMLW_H

#include <stddef.h>

struct evbuffer;

/* Appends len bytes of s as XML character data, safe in text and in attribute values:
 * & < > " ' become entities, CR becomes &#xD; (XML parsers would turn a raw CR into
 * LF), other control bytes but TAB and LF become &#xN;. Other bytes, UTF-8 included,
 * are copied unchanged. */
void sl_xml_escape(struct evbuffer *out, const char *s, size_t len);

/* Appends <name>escaped text</name>. name must be a valid XML name; it is not
 * escaped. */
void sl_xml_element(struct evbuffer *out, const char *name, const char *text, size_t len);

#endif
