/* cache.c -- the DNS answer cache (see cache.h): a hash table (base/hash.h) keyed by the
 * case-folded question (dns_key_make), and an LRU list; one allocation per entry. */
#include "dns/cache.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

/* Laid out for a lookup: the hash handle, the key and the start of the answer are
 * contiguous, so walking a bucket and copying the hit touch few cache lines. */
struct entry {
	struct dns_msg msg; /* parsed view of wire; msg.q has the case of the first asker */
	double stored; /* `now` at dns_cache_put */
	uint32_t ttl; /* seconds from `stored`; > 0 */
	uint32_t hits;
	bool prefetching; /* the prefetch hint was given */
	TAILQ_ENTRY(entry) lru; /* most recently used first */
	uint8_t *wire; /* after the key */
	size_t klen;
	UT_hash_handle hh; /* key: kbytes[klen] */
	uint8_t kbytes[]; /* the key (dns_key_make), then the answer's bytes */
};

struct dns_cache {
	struct entry *table;
	TAILQ_HEAD(entry_list, entry) lru;
	size_t max;
	uint32_t min_ttl, max_ttl;
	struct dns_cache_stats stats;
};

struct dns_cache *dns_cache_new(size_t max_entries, uint32_t min_ttl, uint32_t max_ttl)
{
	struct dns_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	TAILQ_INIT(&c->lru);
	c->max = max_entries;
	c->max_ttl = max_ttl;
	c->min_ttl = min_ttl > max_ttl ? max_ttl : min_ttl;
	return c;
}

static struct entry *find(const struct dns_cache *c, const struct dns_question *q)
{
	uint8_t key[DNS_KEY_MAX];
	size_t klen = dns_key_make(q, key);
	struct entry *e;

	HASH_FIND(hh, c->table, key, klen, e);
	return e;
}

/* Takes e out of the table and the LRU list and frees it. */
static void drop(struct dns_cache *c, struct entry *e)
{
	HASH_DEL(c->table, e);
	TAILQ_REMOVE(&c->lru, e, lru);
	c->stats.entries--;
	free(e);
}

void dns_cache_clear(struct dns_cache *c)
{
	while (!TAILQ_EMPTY(&c->lru))
		drop(c, TAILQ_FIRST(&c->lru));
}

void dns_cache_free(struct dns_cache *c)
{
	if (!c)
		return;
	dns_cache_clear(c);
	free(c);
}

const struct dns_cache_stats *dns_cache_stats(const struct dns_cache *c)
{
	return &c->stats;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The entry TTL of a cacheable answer, before clamping; -1 when not cacheable. */
static int64_t answer_ttl(const struct dns_msg *m, bool *negative)
{
	unsigned rcode = dns_msg_rcode(m);
	uint32_t ttl, neg;
	bool has_neg;

	if (m->qdcount != 1 || !(m->flags & DNS_F_QR) || (m->flags & DNS_F_TC) ||
	    dns_flags_opcode(m->flags) != 0)
		return -1;
	if (rcode != DNS_R_NOERROR && rcode != DNS_R_NXDOMAIN)
		return -1;
	*negative = rcode == DNS_R_NXDOMAIN || m->ancount == 0;
	has_neg = dns_msg_negative_ttl(m, &neg) == 0;
	if (*negative && !has_neg)
		return -1; /* RFC 2308 §5: no SOA, no negative caching */
	if (dns_msg_min_ttl(m, &ttl) < 0)
		return -1; /* cannot happen: answers or an SOA are there */
	if (has_neg && neg < ttl) /* also NODATA at the end of a CNAME chain */
		ttl = neg;
	return ttl;
}

/* Rewrites the TTLs of the stored copy into [ttl, cap]. */
static void fit_ttls(struct entry *e, uint32_t cap)
{
	struct dns_rr_iter it;
	struct dns_rr rr;

	dns_rr_iter_init(&it, &e->msg);
	while (dns_rr_next(&it, &rr)) {
		uint32_t t = rr.ttl;

		if (rr.type == DNS_T_OPT)
			continue;
		if (t < e->ttl)
			t = e->ttl;
		if (t > cap)
			t = cap;
		put_be32(e->wire + it.ttl_off, t);
	}
}

int dns_cache_put(struct dns_cache *c, const struct dns_msg *answer, double now)
{
	struct entry *e, *old;
	bool negative = false, added;
	int64_t ttl;

	if (!c->max)
		return 0;
	ttl = answer_ttl(answer, &negative);
	if (ttl < 0)
		return 0;
	if (ttl < c->min_ttl)
		ttl = c->min_ttl;
	if (ttl > c->max_ttl)
		ttl = c->max_ttl;
	if (ttl == 0)
		return 0;
	e = malloc(sizeof(*e) + DNS_KEY_MAX + answer->len);
	if (!e)
		return 0;
	e->klen = dns_key_make(&answer->q, e->kbytes);
	e->wire = e->kbytes + e->klen;
	memcpy(e->wire, answer->wire, answer->len);
	e->msg = *answer;
	e->msg.wire = e->wire;
	e->stored = now;
	e->ttl = (uint32_t)ttl;
	e->hits = 0;
	e->prefetching = false;
	e->wire[2] &= (uint8_t)~(DNS_F_AA >> 8); /* no longer authoritative */
	e->msg.flags &= (uint16_t)~DNS_F_AA; /* the view stays what the bytes say */
	fit_ttls(e, negative ? e->ttl : c->max_ttl);

	HASH_FIND(hh, c->table, e->kbytes, e->klen, old);
	/* In before the old one goes, so that out of memory leaves the cache as it was. */
	HASH_ADD_OK(added, HASH_ADD_KEYPTR(hh, c->table, e->kbytes, e->klen, e));
	if (!added) {
		free(e);
		return 0;
	}
	if (old)
		drop(c, old);
	else if (c->stats.entries >= c->max) {
		drop(c, TAILQ_LAST(&c->lru, entry_list));
		c->stats.evictions++;
	}
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	c->stats.entries++;
	c->stats.inserts++;
	return 1;
}

static int lookup(struct dns_cache *c, const struct dns_question *q, uint16_t id, double now,
		  uint8_t *out, size_t outmax, struct dns_msg *ans, bool *prefetch, bool count)
{
	struct entry *e = NULL;
	double age, left;
	uint32_t elapsed;

	if (prefetch)
		*prefetch = false;
	if (c->max)
		e = find(c, q);
	if (!e || e->msg.len > outmax) {
		c->stats.misses += count;
		return 0;
	}
	age = now > e->stored ? now - e->stored : 0;
	if (age >= e->ttl) {
		drop(c, e);
		c->stats.expired++;
		c->stats.misses += count;
		return 0;
	}
	elapsed = (uint32_t)age; /* whole seconds; age < ttl, so it fits */
	/* q has the same key: names elsewhere that point into the question name now decode
	 * in the client's case. */
	dns_msg_copy_for(&e->msg, id, q, out, ans);
	dns_msg_age_ttls(&e->msg, out, elapsed);
	if (!count)
		return 1;

	if (e->hits < UINT32_MAX)
		e->hits++;
	left = e->ttl - age;
	if (!e->prefetching && e->hits >= DNS_CACHE_PREFETCH_HITS &&
	    (left * 10 < e->ttl || left < DNS_CACHE_PREFETCH_SECS)) {
		e->prefetching = true;
		if (prefetch)
			*prefetch = true;
	}
	LRU_TOUCH(&c->lru, e, lru);
	c->stats.hits++;
	return 1;
}

int dns_cache_get(struct dns_cache *c, const struct dns_question *q, uint16_t id, double now,
		  uint8_t *out, size_t outmax, struct dns_msg *ans, bool *prefetch)
{
	return lookup(c, q, id, now, out, outmax, ans, prefetch, true);
}

int dns_cache_peek(struct dns_cache *c, const struct dns_question *q, uint16_t id, double now,
		   uint8_t *out, size_t outmax, struct dns_msg *ans)
{
	return lookup(c, q, id, now, out, outmax, ans, NULL, false);
}
