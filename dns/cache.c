/* cache.c -- the DNS answer cache (see cache.h): a chained hash table over SipHash of the
 * case-folded key, and a doubly linked LRU list; one allocation per entry. */
#include "dns/cache.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS_MAX ((size_t)1 << 24)

struct entry {
	struct entry *hnext; /* bucket chain */
	struct entry *prev, *next; /* LRU list, most recently used first */
	uint64_t hash;
	double stored; /* `now` at dns_cache_put */
	uint32_t ttl; /* seconds from `stored`; > 0 */
	uint32_t hits;
	bool prefetching; /* the prefetch hint was given */
	struct dns_msg msg; /* parsed view of wire; msg.q is the key, case of the first asker */
	uint8_t wire[];
};

struct dns_cache {
	struct entry **buckets;
	size_t mask;
	struct entry *head, *tail;
	size_t max;
	uint32_t min_ttl, max_ttl;
	uint8_t key[16]; /* SipHash key, against hash flooding by chosen names */
	struct dns_cache_stats stats;
};

struct dns_cache *dns_cache_new(size_t max_entries, uint32_t min_ttl, uint32_t max_ttl)
{
	struct dns_cache *c;
	size_t nb = 1;

	if (sodium_init() < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	while (nb < max_entries && nb < BUCKETS_MAX) /* load factor at most 1 up to 16M */
		nb <<= 1;
	c->buckets = calloc(nb, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->mask = nb - 1;
	c->max = max_entries;
	c->max_ttl = max_ttl;
	c->min_ttl = min_ttl > max_ttl ? max_ttl : min_ttl;
	randombytes_buf(c->key, sizeof(c->key));
	return c;
}

static void lru_unlink(struct dns_cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct dns_cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	else
		c->tail = e;
	c->head = e;
}

static struct entry *find(const struct dns_cache *c, const struct dns_question *q,
			  uint64_t hash)
{
	for (struct entry *e = c->buckets[hash & c->mask]; e; e = e->hnext)
		if (e->hash == hash && dns_key_eq(&e->msg.q, q))
			return e;
	return NULL;
}

/* Unlinks e from its bucket and the LRU list and frees it. */
static void drop(struct dns_cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & c->mask];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->stats.entries--;
	free(e);
}

void dns_cache_clear(struct dns_cache *c)
{
	while (c->head)
		drop(c, c->head);
}

void dns_cache_free(struct dns_cache *c)
{
	if (!c)
		return;
	dns_cache_clear(c);
	free(c->buckets);
	sodium_memzero(c->key, sizeof(c->key));
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
	bool negative = false;
	int64_t ttl;
	uint64_t hash;

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
	e = malloc(sizeof(*e) + answer->len);
	if (!e)
		return 0;
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

	hash = dns_key_hash(c->key, &e->msg.q);
	e->hash = hash;
	old = find(c, &e->msg.q, hash);
	if (old)
		drop(c, old);
	else if (c->stats.entries >= c->max) {
		drop(c, c->tail);
		c->stats.evictions++;
	}
	e->hnext = c->buckets[hash & c->mask];
	c->buckets[hash & c->mask] = e;
	lru_push_front(c, e);
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
		e = find(c, q, dns_key_hash(c->key, q));
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
	lru_unlink(c, e);
	lru_push_front(c, e);
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
