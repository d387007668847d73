/* inflight.h -- the queries in flight: one per question (name without case, type, class)
 * with the clients waiting for it, the upstream queries of its two sides (each side tries
 * its servers in turn when one fails or answers SERVFAIL/REFUSED), its deadline, and the
 * split (ChinaDNS) decision between the two answers. What the answer then becomes (cache,
 * learned addresses, replies) is the caller's business: it is told once, at the end. */
#ifndef SNET_DNS_INFLIGHT_H
#define SNET_DNS_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "dns/listen.h"
#include "dns/msg.h"

struct cidrset;
struct dns_upset;
struct ev_loop;
struct dns_inflights;

/* A client waiting for an answer; the caller allocates it (malloc) and frees it. */
struct dns_waiter {
	TAILQ_ENTRY(dns_waiter) link;
	struct dns_msg q; /* the client's query; wire NULL (only header, question, EDNS used) */
	struct dns_client c;
	dns_reply_fn fn;
	void *ctx;
	double t0;
};
TAILQ_HEAD(dns_waiters, dns_waiter);

/* Which sides are asked and who decides. SPLIT: both, the ChinaDNS rule picks (the domestic
 * answer when it has addresses, all in the domestic set; else the foreign one; SERVFAIL
 * when the foreign side failed). FAKE (fake-IP on, a name of no list): the domestic side
 * alone decides -- a domestic answer is served, anything else becomes a fake address. */
enum dns_route { DNS_ROUTE_SPLIT, DNS_ROUTE_DOMESTIC, DNS_ROUTE_FOREIGN, DNS_ROUTE_FAKE };

/* The end of a query: ans the answer chosen (NULL: none, the waiters get SERVFAIL), source
 * "domestic", "foreign", "failed", or "fake" (a FAKE-route name found not domestic: the
 * waiters get fake addresses). The query has left the table already (a query a reply
 * brings on starts afresh); ans lives until the call returns. Takes ownership of every
 * waiter: each is to be answered and freed. */
typedef void (*dns_inflight_done_fn)(void *ctx, const struct dns_question *q,
				     struct dns_waiters *waiters, const struct dns_msg *ans,
				     const char *source);

/* NULL when out of memory. */
struct dns_inflights *dns_inflights_new(struct ev_loop *loop, dns_inflight_done_fn done,
					void *ctx);
/* Drops every query in flight: its waiters are freed unanswered. */
void dns_inflights_free(struct dns_inflights *t);
/* The current configuration's domestic set (read at each split decision) and deadline (for
 * queries started from now on). The set must live until the next call or the free. */
void dns_inflights_configure(struct dns_inflights *t, const struct cidrset *domestic,
			     double timeout);

/* When a query for q is in flight: true, and w (not NULL) joins its waiters. */
bool dns_inflights_join(struct dns_inflights *t, const struct dns_question *q,
			struct dns_waiter *w);
/* Starts resolving q (none in flight) on route with the servers of ups, which it keeps a
 * reference to; w may be NULL (a prefetch). 0, or -1 when too many queries are in flight
 * or out of memory: w is then still the caller's. */
int dns_inflights_start(struct dns_inflights *t, const struct dns_question *q,
			enum dns_route route, struct dns_upset *ups, struct dns_waiter *w);

size_t dns_inflights_count(const struct dns_inflights *t);
/* Queries sent to any upstream so far. */
uint64_t dns_inflights_sent(const struct dns_inflights *t);

#endif
