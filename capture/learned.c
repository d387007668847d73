/* learned.c -- the learned-address table (see learned.h): open hashing with chains over
 * a fixed bucket array, entries in one array compacted on removal. */
#include "capture/learned.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BUCKETS 16384

struct entry {
	struct learned_addr a;
	long next; /* chain, index into v, -1 ends */
};

struct learned {
	struct entry *v;
	size_t n, cap;
	long buckets[BUCKETS];
};

static unsigned bucket(const struct learned_addr *a)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	size_t n = a->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < n; i++)
		h = (h ^ a->addr[i]) * 16777619u;
	return h % BUCKETS;
}

static bool same(const struct learned_addr *x, const struct learned_addr *y)
{
	return x->family == y->family && !memcmp(x->addr, y->addr, x->family == AF_INET ? 4 : 16);
}

struct learned *learned_new(void)
{
	struct learned *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	for (size_t i = 0; i < BUCKETS; i++)
		l->buckets[i] = -1;
	return l;
}

void learned_free(struct learned *l)
{
	if (!l)
		return;
	free(l->v);
	free(l);
}

static long find(const struct learned *l, const struct learned_addr *a)
{
	for (long i = l->buckets[bucket(a)]; i >= 0; i = l->v[i].next)
		if (same(&l->v[i].a, a))
			return i;
	return -1;
}

int learned_put(struct learned *l, const struct learned_addr *a)
{
	long i = find(l, a);
	unsigned b;

	if (i >= 0) {
		struct learned_addr *e = &l->v[i].a;
		if (e->proxy != a->proxy) {
			e->proxy = a->proxy;
			e->expires = a->expires;
			return 1;
		}
		if (a->expires > e->expires) {
			e->expires = a->expires;
			return 2;
		}
		return 0;
	}
	if (l->n >= LEARNED_MAX)
		return -1;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct entry *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	b = bucket(a);
	l->v[l->n].a = *a;
	if (a->family == AF_INET) /* keys compare 4 bytes; keep the rest clean */
		memset(l->v[l->n].a.addr + 4, 0, 12);
	l->v[l->n].next = l->buckets[b];
	l->buckets[b] = (long)l->n;
	l->n++;
	return 1;
}

/* Unlinks entry i from its chain. */
static void unlink_at(struct learned *l, long i)
{
	long *pp = &l->buckets[bucket(&l->v[i].a)];

	while (*pp != i)
		pp = &l->v[*pp].next;
	*pp = l->v[i].next;
}

/* Removes entry i, moving the last entry into its place. */
static void remove_at(struct learned *l, long i)
{
	long last = (long)l->n - 1;

	unlink_at(l, i);
	if (i != last) {
		long *pp = &l->buckets[bucket(&l->v[last].a)];
		while (*pp != last)
			pp = &l->v[*pp].next;
		*pp = i;
		l->v[i] = l->v[last];
	}
	l->n--;
}

void learned_each(struct learned *l, double now, void (*fn)(void *ctx, const struct learned_addr *a),
		  void (*gone)(void *ctx, const struct learned_addr *a), void *ctx)
{
	if (now > 0) {
		for (long i = 0; i < (long)l->n;) {
			if (l->v[i].a.expires <= now) {
				struct learned_addr a = l->v[i].a;
				remove_at(l, i);
				if (gone)
					gone(ctx, &a);
				continue;
			}
			i++;
		}
	}
	if (fn)
		for (size_t i = 0; i < l->n; i++)
			fn(ctx, &l->v[i].a);
}

size_t learned_count(const struct learned *l)
{
	return l->n;
}

double learned_next_expiry(const struct learned *l)
{
	double t = 0;

	for (size_t i = 0; i < l->n; i++)
		if (t == 0 || l->v[i].a.expires < t)
			t = l->v[i].a.expires;
	return t;
}
