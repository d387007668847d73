/* server.h -- the DNS resolver: every query that reaches snet-tun (its listener, and in
 * tun mode port 53 in the tun) is answered here: locally (block-domains, hosts,
 * disable-qtypes), from the cache, or from the upstreams -- domestic directly, foreign
 * through the proxy, or both with the ChinaDNS rule -- with identical queries in flight
 * coalesced into one upstream query, and SERVFAIL by the deadline when nothing answered.
 *
 * The split rule (dns.split): ask both sides; the domestic answer wins when it has
 * addresses and every one of them is inside rules.cn-cidr-file; otherwise the foreign
 * answer; when the foreign side fails, SERVFAIL (a domestic answer that is not
 * domestic may be poisoned, and with the tunnel down it would be a silent fallback).
 * bypass-domains are asked to the domestic side only, proxy-domains to the foreign. */
#ifndef SNET_DNS_SERVER_H
#define SNET_DNS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/listen.h"

struct config;
struct ev_loop;
struct relay;
struct resolver;
struct dns_server;

#define DNS_LATENCY_BUCKETS 10
extern const double dns_latency_bounds[DNS_LATENCY_BUCKETS];

struct dns_server_stats {
	uint64_t queries, cache_hits, local, domestic, foreign, failed;
	uint64_t coalesced; /* queries that joined one already in flight */
	uint64_t upstream_queries; /* sent to any upstream */
	uint64_t prefetches, dropped; /* dropped: no header, or a response */
	uint64_t fake; /* answered from the fake-IP pool */
	uint64_t learned; /* addresses told to the capture */
	uint64_t inflight;
	uint64_t cache_entries; /* answers held in the cache now */
	/* of local: answered NXDOMAIN by rules.block-domains, answered from dns.hosts */
	uint64_t blocked, hosts;
	/* Time from a query's arrival to an upstream's answer for it (domestic or foreign):
	 * latency_bucket[i] counts those within dns_latency_bounds[i] seconds and not an
	 * earlier bound; the last slot those beyond every bound. */
	uint64_t latency_bucket[DNS_LATENCY_BUCKETS + 1];
	double latency_sum;
};

/* Builds the resolver for cfg->dns and opens its listeners (UDP and TCP at dns.listen;
 * in redirect mode with rules on a loopback IPv4 listen address, also [::1] at the same
 * port, where IPv6 queries are redirected). Foreign queries go through relay.
 * NULL with err set. */
struct dns_server *dns_server_new(struct ev_loop *loop, struct resolver *res,
				  struct relay *relay, const struct config *cfg, char *err,
				  size_t errlen);
/* Takes the new config's upstreams, rules and local answers; the cache stays (its size
 * and TTL bounds change only with a restart, as does the listen address). 0 or -1 with
 * err set, and then nothing changed. */
int dns_server_reconfigure(struct dns_server *d, const struct config *cfg, char *err,
			   size_t errlen);
/* Drops queries in flight (their clients get no reply) and closes everything. */
void dns_server_free(struct dns_server *d);
/* Opens dns.query-log's path again (after logrotate moved the file): 1 when reopened, 0
 * when there is no query log, -1 with err when the path cannot be opened (the old file
 * stays in use). */
int dns_server_reopen_log(struct dns_server *d, char *err, size_t errlen);

/* Answers the query msg from c: fn(ctx, c, reply) runs exactly once, now or later, unless
 * the server is freed first. Returns 1 then, or 0 when the message gets no answer at all
 * (shorter than a header, or a response) and fn never runs. */
int dns_server_query(struct dns_server *d, const uint8_t *msg, size_t len,
		     const struct dns_client *c, dns_reply_fn fn, void *ctx);

/* Addresses in answers for rules.bypass-domains (proxy false) and rules.proxy-domains
 * (proxy true), told to the capture before the client gets the answer, so the routes or
 * rules for them are in place when it connects. ttl: the record's, at least 60 s. */
struct dns_learned {
	int family;
	uint8_t addr[16];
	uint32_t ttl;
};
typedef void (*dns_learn_fn)(void *ctx, bool proxy, const struct dns_learned *v, size_t n);
void dns_server_set_learn(struct dns_server *d, dns_learn_fn fn, void *ctx);

/* With dns.fake-ip: when dst is an address of the pool, the name it stands for into
 * host[hostlen]. 0 found; 1 in the pool but no name has it (connect nowhere); -1 not a
 * fake address (or fake-ip off). */
int dns_server_fake_name(struct dns_server *d, const struct sockaddr_storage *dst, char *host,
			 size_t hostlen);

/* The listener's port and whether the [::1] one is open (for the redirect rules). */
uint16_t dns_server_port(const struct dns_server *d);
bool dns_server_has_ipv6(const struct dns_server *d);
/* Whether a wildcard IPv6 listener takes the gateway LAN's redirected IPv6 queries. */
bool dns_server_has_gateway_ipv6(const struct dns_server *d);
/* Where the listener is (tun mode relays intercepted TCP queries there). */
const struct sockaddr_storage *dns_server_listen_addr(const struct dns_server *d);
const struct dns_server_stats *dns_server_stats(struct dns_server *d);
/* From now on, remember which name each A/AAAA answer's addresses were given for (at
 * most max addresses), for dns_server_name_of. 0, or -1 when out of memory. */
int dns_server_keep_names(struct dns_server *d, size_t max);
/* The name dst's address was last answered for (not expired): 0 with host set, or -1. */
int dns_server_name_of(struct dns_server *d, const struct sockaddr_storage *dst, char *host,
		       size_t hostlen);

#endif
