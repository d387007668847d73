/* stats.h -- the statistics endpoint at stats.listen: GET /metrics (Prometheus text),
 * /connections, /upstreams and /dns (JSON), served from the program's own loop. */
#ifndef SNET_SERVICE_STATS_H
#define SNET_SERVICE_STATS_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/capture.h"

struct config;
struct dns_server;
struct relay;
struct stats;

/* What the endpoint reports on; it keeps the pointers (they outlive it). dns may be NULL;
 * capture/cap give the capture mode's own counters (its stats op, when it has one). */
struct stats_sources {
	struct relay *relay;
	struct dns_server *dns;
	const struct capture_ops *capture;
	void *cap;
	const char *mode; /* "tun" or "redirect" */
};

/* Listens at cfg->stats.listen (its socket marked with cfg->fwmark, so that our own rules
 * never capture its replies) and serves until stats_free. NULL with err set. */
struct stats *stats_start(struct ev_loop *loop, const struct config *cfg,
			  const struct stats_sources *src, char *err, size_t errlen);
/* Takes a reloaded config's stats.allow (the listen address changes only with a
 * restart). 0, or -1 with err set (and the old list kept). */
int stats_reconfigure(struct stats *st, const struct config *cfg, char *err, size_t errlen);
/* Closes the listener and every stats connection. NULL is fine. */
void stats_free(struct stats *st);

#endif
