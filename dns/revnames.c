/* revnames.c -- addresses to the name they were last answered for (see revnames.h): one
 * uthash table keyed by family and address, with an LRU list that bounds it. */
#include "dns/revnames.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/hash.h"

struct revkey {
	uint8_t family;
	uint8_t addr[16];
};

struct revname {
	struct revkey key;
	UT_hash_handle hh;
	TAILQ_ENTRY(revname) lru;
	double expires;
	char name[256];
};

struct dns_revnames {
	struct revname *by_addr;
	TAILQ_HEAD(revlru, revname) lru; /* most recently answered first */
	size_t n, max;
};

static void key_set(struct revkey *k, int family, const uint8_t *addr)
{
	memset(k, 0, sizeof(*k));
	k->family = family == AF_INET ? 4 : 6;
	memcpy(k->addr, addr, family == AF_INET ? 4 : 16);
}

struct dns_revnames *dns_revnames_new(size_t max)
{
	struct dns_revnames *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	TAILQ_INIT(&r->lru);
	r->max = max ? max : 1;
	return r;
}

static void drop(struct dns_revnames *r, struct revname *e)
{
	HASH_DEL(r->by_addr, e);
	TAILQ_REMOVE(&r->lru, e, lru);
	free(e);
	r->n--;
}

void dns_revnames_free(struct dns_revnames *r)
{
	struct revname *e;

	if (!r)
		return;
	while ((e = TAILQ_FIRST(&r->lru)))
		drop(r, e);
	free(r);
}

void dns_revnames_put(struct dns_revnames *r, int family, const uint8_t *addr, const char *name,
		      double expires)
{
	struct revkey k;
	struct revname *e;
	bool ok;

	key_set(&k, family, addr);
	HASH_FIND(hh, r->by_addr, &k, sizeof(k), e);
	if (e) {
		LRU_TOUCH(&r->lru, e, lru);
	} else {
		if (r->n >= r->max)
			drop(r, TAILQ_LAST(&r->lru, revlru));
		e = calloc(1, sizeof(*e));
		if (!e)
			return;
		e->key = k;
		HASH_ADD_OK(ok, HASH_ADD(hh, r->by_addr, key, sizeof(e->key), e));
		if (!ok) {
			free(e);
			return;
		}
		TAILQ_INSERT_HEAD(&r->lru, e, lru);
		r->n++;
	}
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->expires = expires;
}

int dns_revnames_get(struct dns_revnames *r, int family, const uint8_t *addr, double now,
		     char *out, size_t outlen)
{
	struct revkey k;
	struct revname *e;

	key_set(&k, family, addr);
	HASH_FIND(hh, r->by_addr, &k, sizeof(k), e);
	if (!e || e->expires < now)
		return -1;
	snprintf(out, outlen, "%s", e->name);
	return 0;
}
