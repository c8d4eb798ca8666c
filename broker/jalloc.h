/* jalloc.h - a small-object cache in front of malloc for jansson's values.
 * Every request builds and frees a jansson tree of small objects; glibc's
 * malloc/free were a quarter of the broker's instructions per message. */
#ifndef SLUICE_JALLOC_H
#define SLUICE_JALLOC_H

/* Makes jansson allocate through the cache. Call once, before any json_t exists.
 * In sanitizer builds it does nothing, so ASan keeps seeing every block. */
void sl_jalloc_install(void);

#endif
