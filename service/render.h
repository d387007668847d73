/* render.h -- the bodies the stats endpoint serves (service/render.c), apart from the HTTP
 * side (service/stats.c). Each returns a malloc'ed body of *len bytes (the caller frees it)
 * or NULL when out of memory or over STATS_BODY_MAX. */
#ifndef SNET_SERVICE_RENDER_H
#define SNET_SERVICE_RENDER_H

#include <stddef.h>

#include "service/stats.h"

/* No body is larger; /connections lists at most STATS_CONNS_MAX sessions (and says
 * "truncated": true when there were more). */
#define STATS_BODY_MAX (8u << 20)
#define STATS_CONNS_MAX 20000

char *render_metrics(const struct stats_sources *src, size_t *len);
char *render_connections(const struct stats_sources *src, size_t *len);
char *render_upstreams(const struct stats_sources *src, size_t *len);
char *render_dns(const struct stats_sources *src, size_t *len);

#endif
