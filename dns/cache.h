/* cache.h -- the DNS answer cache: upstream answers keyed by (name without case, qtype,
 * qclass), with positive and negative (RFC 2308) TTLs clamped to [min_ttl, max_ttl], LRU
 * eviction at a fixed number of entries, and a prefetch hint for popular entries about to
 * expire. Pure: no I/O, no clock (the caller passes `now`, in seconds, monotonic).
 *
 * What is stored: a reply with one question, QR set, opcode QUERY, TC clear, and rcode
 * NOERROR with answers (positive), NXDOMAIN or NOERROR without answers (NODATA). Positive
 * answers live for the smallest TTL of their RRs (every section, OPT excepted; lowered by
 * an authority SOA's negative TTL when there is one); negative ones for min(SOA TTL, SOA
 * MINIMUM), and not at all without an SOA. That TTL is then clamped to [min_ttl, max_ttl];
 * a result of 0 is not stored. The stored copy's RR TTLs are rewritten to fit the entry:
 * each raised to at least the entry's TTL and capped at max_ttl (negative answers: all set
 * to the entry's TTL), and AA is cleared, so what a client is served never outlives the
 * entry. Everything else (SERVFAIL, REFUSED, other rcodes, TC, referrals) is not cacheable.
 */
#ifndef SNET_DNS_CACHE_H
#define SNET_DNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/msg.h"

struct dns_cache;

struct dns_cache_stats {
	uint64_t hits, misses; /* lookups; an expired entry found counts as a miss */
	uint64_t inserts; /* answers stored, replacements included */
	uint64_t evictions; /* least recently used entries dropped to make room */
	uint64_t expired; /* expired entries removed when looked up */
	size_t entries; /* held now */
};

/* A cache of at most max_entries answers (0: a cache that stores nothing). min_ttl above
 * max_ttl is lowered to max_ttl. Keys are hashed under the process's secret key
 * (base/hash.h). NULL when out of memory. */
struct dns_cache *dns_cache_new(size_t max_entries, uint32_t min_ttl, uint32_t max_ttl);
void dns_cache_free(struct dns_cache *c);

/* Stores a copy of the parsed answer (its bytes need not outlive the call), keyed by its
 * question, replacing an entry with the same key (hits and the prefetch mark restart), and
 * evicting the least recently used entry when full. The caller has matched the answer to
 * the query it sent. 1: stored; 0: not cacheable (see above) or out of memory, and the
 * cache is unchanged. */
int dns_cache_put(struct dns_cache *c, const struct dns_msg *answer, double now);

/* Looks up the client's question q. On a hit, writes into out[0..outmax) the stored
 * answer with the header ID set to id, the question name replaced by q's bytes (same key,
 * so only the case can differ), and every TTL but OPT's counted down by the whole seconds
 * since it was stored; *ans is its parsed view (ans->len its length), the one the cache
 * keeps, so a hit is never parsed. The caller still fits it to the client's UDP size. An entry is expired once its TTL has fully elapsed (it would be served with
 * TTL 0); it is then removed.
 * *prefetch (may be NULL) is set true on at most one hit per stored answer: when the
 * entry has been hit at least DNS_CACHE_PREFETCH_HITS times, this one included, and less
 * than a tenth of its TTL or under DNS_CACHE_PREFETCH_SECS is left; the caller should then
 * refresh it in the background and dns_cache_put the new answer. If the refresh fails,
 * the entry just expires.
 * 1: hit; 0: miss (including an out buffer too small for the stored answer). */
int dns_cache_get(struct dns_cache *c, const struct dns_question *q, uint16_t id, double now,
		  uint8_t *out, size_t outmax, struct dns_msg *ans, bool *prefetch);

/* The same without counting a hit, touching the LRU order or the prefetch hint: for the
 * answer just stored, served to the queries that waited for it. */
int dns_cache_peek(struct dns_cache *c, const struct dns_question *q, uint16_t id, double now,
		   uint8_t *out, size_t outmax, struct dns_msg *ans);

#define DNS_CACHE_PREFETCH_HITS 2
#define DNS_CACHE_PREFETCH_SECS 5

/* Drops every entry; the counters stay. */
void dns_cache_clear(struct dns_cache *c);
const struct dns_cache_stats *dns_cache_stats(const struct dns_cache *c);

#endif
