/* upcheck.h -- active health checks of a relay's upstreams (upstream.check-url). */
#ifndef SNET_UPCHECK_H
#define SNET_UPCHECK_H

#include <stdbool.h>

struct config;
struct ev_loop;
struct relay;
struct upcheck;
struct upstreams;

/* Every upstream.check-interval seconds, an HTTP GET of upstream.check-url through each
 * member of g (a relay session per check, whose client side is the check): up when a
 * status line comes back within check-timeout, its latency kept; down otherwise. The
 * results go to relay_upstream_checked. The first round starts now. NULL when checks
 * are off (check-interval 0, or a group of one) or out of memory. */
struct upcheck *upcheck_new(struct ev_loop *loop, struct relay *r, struct upstreams *g,
			    const struct config *cfg);
/* Whether every member's first check has ended (the ready line waits for it). */
bool upcheck_first_round_done(const struct upcheck *u);
/* Ends the checks running and frees everything. NULL is fine. */
void upcheck_free(struct upcheck *u);

#endif
