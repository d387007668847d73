/* learned.c -- the learned-address table (see learned.h): a base/hash.h table keyed by
 * (family, address bytes), one entry per address. */
#include "capture/learned.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/hash.h"

struct key {
	int family;
	uint8_t addr[16]; /* 4 bytes for AF_INET, the rest zero */
};

struct entry {
	struct key key;
	struct learned_addr a;
	UT_hash_handle hh;
};

struct learned {
	struct entry *h;
};

static struct key key_of(const struct learned_addr *a)
{
	struct key k;

	memset(&k, 0, sizeof(k));
	k.family = a->family;
	memcpy(k.addr, a->addr, a->family == AF_INET ? 4 : 16);
	return k;
}

struct learned *learned_new(void)
{
	return calloc(1, sizeof(struct learned));
}

static void entry_del(struct learned *l, struct entry *e)
{
	HASH_DEL(l->h, e);
	free(e);
}

void learned_free(struct learned *l)
{
	struct entry *e, *tmp;

	if (!l)
		return;
	HASH_ITER(hh, l->h, e, tmp)
		entry_del(l, e);
	free(l);
}

int learned_put(struct learned *l, const struct learned_addr *a)
{
	struct key k = key_of(a);
	struct entry *e;
	bool ok;

	HASH_FIND(hh, l->h, &k, sizeof(k), e);
	if (e) {
		if (e->a.proxy != a->proxy) {
			e->a.proxy = a->proxy;
			e->a.expires = a->expires;
			return 1;
		}
		if (a->expires > e->a.expires) {
			e->a.expires = a->expires;
			return 2;
		}
		return 0;
	}
	if (HASH_COUNT(l->h) >= LEARNED_MAX || !(e = calloc(1, sizeof(*e))))
		return -1;
	e->key = k;
	e->a = *a;
	memcpy(e->a.addr, k.addr, sizeof(e->a.addr)); /* an IPv4 entry's tail is zero */
	HASH_ADD_OK(ok, HASH_ADD(hh, l->h, key, sizeof(e->key), e));
	if (!ok) {
		free(e);
		return -1;
	}
	return 1;
}

void learned_each(struct learned *l, double now, void (*fn)(void *ctx, const struct learned_addr *a),
		  void (*gone)(void *ctx, const struct learned_addr *a), void *ctx)
{
	struct entry *e, *tmp;

	if (now > 0) {
		HASH_ITER(hh, l->h, e, tmp) {
			if (e->a.expires <= now) {
				struct learned_addr a = e->a;
				entry_del(l, e);
				if (gone)
					gone(ctx, &a);
			}
		}
	}
	if (fn)
		HASH_ITER(hh, l->h, e, tmp)
			fn(ctx, &e->a);
}

size_t learned_count(const struct learned *l)
{
	return HASH_COUNT(l->h);
}

double learned_next_expiry(const struct learned *l)
{
	const struct entry *e;
	double t = 0;

	for (e = l->h; e; e = e->hh.next)
		if (t == 0 || e->a.expires < t)
			t = e->a.expires;
	return t;
}
