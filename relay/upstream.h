/* upstream.h -- the upstreams a relay chooses from: every proxy of proxies: (or the one
 * of proxy:), each with its health. Which one a new connection gets (upstream.policy),
 * what the connections' outcomes and the active checks say about each, and the one log
 * line per change of state. Pure bookkeeping: the time is passed in, nothing here does
 * I/O, so it is unit-tested on its own (tests/unit/test_upstream.c).
 *
 * A member is UNKNOWN until something is known, UP, or DOWN. DOWN comes from a failed
 * connect or handshake (at once), from three connections in a row that closed before
 * any byte came back (one alone may be the target's doing), or from a failed check; a
 * DOWN member is tried again by a new connection only after a back-off (1 s, doubling
 * to 60 s) unless a check finds it up first. A group of one is always chosen, whatever
 * its state: there is nothing to fail over to. */
#ifndef SNET_UPSTREAM_H
#define SNET_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct proxy_inst;
struct upstreams;

enum upstream_state { UPSTREAM_UNKNOWN, UPSTREAM_UP, UPSTREAM_DOWN };

enum upstream_outcome {
	UPSTREAM_OK, /* bytes came back through it */
	UPSTREAM_FAILED, /* connect or handshake failed or timed out */
	UPSTREAM_EARLY_CLOSE, /* closed before any byte came back */
};

/* The members of cfg's proxies, each with a proxy instance. A member of prev whose
 * settings are the same keeps its health. NULL with err set. */
struct upstreams *upstreams_new(const struct config *cfg, const struct upstreams *prev,
				double now, char *err, size_t errlen);
void upstreams_ref(struct upstreams *g);
void upstreams_put(struct upstreams *g);

size_t upstreams_count(const struct upstreams *g);
const char *upstreams_name(const struct upstreams *g, int i);
/* Member i's proxy instance (no reference taken). */
struct proxy_inst *upstreams_proxy(const struct upstreams *g, int i);
enum upstream_state upstreams_state(const struct upstreams *g, int i);
/* The last good check's latency of member i, seconds; < 0 when unknown. */
double upstreams_latency(const struct upstreams *g, int i);
/* "unknown", "up" or "down". */
const char *upstream_state_name(enum upstream_state st);

/* The member for a new connection, none of those in `tried` (bit i: member i), by the
 * group's policy; -1 when no member may be used now (all down and backing off, or all
 * tried). */
int upstreams_pick(struct upstreams *g, uint32_t tried, double now);

/* What a connection through member i, begun at `since`, found. A failure of one begun
 * before the member last went up is ignored. true when this took the member down (its
 * established connections are then to be reset). */
bool upstreams_report(struct upstreams *g, int i, enum upstream_outcome o, const char *why,
		      double since, double now);
/* What an active check of member i found: ok with the latency in seconds, or why not.
 * true when this took the member down. */
bool upstreams_checked(struct upstreams *g, int i, bool ok, double latency, const char *why,
		       double now);
/* Whether any member is not DOWN. */
bool upstreams_any_up(const struct upstreams *g);

#endif
