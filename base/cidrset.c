/* cidrset.c -- CIDR membership as sorted, merged ranges (see cidrset.h). IPv6 addresses
 * are compared as two 64-bit halves. */
#include "base/cidrset.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/config.h"

struct r4 {
	uint32_t lo, hi;
};

struct a6 {
	uint64_t h, l;
};

struct r6 {
	struct a6 lo, hi;
};

struct cidrset {
	struct r4 *v4;
	size_t n4;
	struct r6 *v6;
	size_t n6;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static int a6_cmp(struct a6 a, struct a6 b)
{
	if (a.h != b.h)
		return a.h < b.h ? -1 : 1;
	if (a.l != b.l)
		return a.l < b.l ? -1 : 1;
	return 0;
}

static int r4_cmp(const void *a, const void *b)
{
	const struct r4 *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int r6_cmp(const void *a, const void *b)
{
	const struct r6 *x = a, *y = b;
	return a6_cmp(x->lo, y->lo);
}

static struct r6 range6(const struct cidr *c)
{
	struct a6 a = { be64(c->addr), be64(c->addr + 8) }, m;
	unsigned p = c->prefix > 128 ? 128 : c->prefix;

	m.h = p >= 64 ? ~(uint64_t)0 : p == 0 ? 0 : ~(uint64_t)0 << (64 - p);
	m.l = p <= 64 ? 0 : p == 128 ? ~(uint64_t)0 : ~(uint64_t)0 << (128 - p);
	return (struct r6){ { a.h & m.h, a.l & m.l }, { a.h | ~m.h, a.l | ~m.l } };
}

struct cidrset *cidrset_new(const struct cidr *v, size_t n)
{
	struct cidrset *s = calloc(1, sizeof(*s));
	size_t i, k;

	if (!s)
		return NULL;
	s->v4 = calloc(n ? n : 1, sizeof(*s->v4));
	s->v6 = calloc(n ? n : 1, sizeof(*s->v6));
	if (!s->v4 || !s->v6) {
		cidrset_free(s);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (v[i].family == AF_INET) {
			unsigned p = v[i].prefix > 32 ? 32 : v[i].prefix;
			uint32_t m = p == 0 ? 0 : ~(uint32_t)0 << (32 - p), a = be32(v[i].addr);
			s->v4[s->n4++] = (struct r4){ a & m, a | ~m };
		} else if (v[i].family == AF_INET6) {
			s->v6[s->n6++] = range6(&v[i]);
		}
	}
	qsort(s->v4, s->n4, sizeof(*s->v4), r4_cmp);
	qsort(s->v6, s->n6, sizeof(*s->v6), r6_cmp);
	/* Merge overlapping and adjacent ranges, so a lookup needs one comparison. */
	for (i = 0, k = 0; i < s->n4; i++) {
		if (k && (uint64_t)s->v4[k - 1].hi + 1 >= s->v4[i].lo) {
			if (s->v4[i].hi > s->v4[k - 1].hi)
				s->v4[k - 1].hi = s->v4[i].hi;
		} else {
			s->v4[k++] = s->v4[i];
		}
	}
	s->n4 = k;
	for (i = 0, k = 0; i < s->n6; i++) {
		if (k && a6_cmp(s->v6[k - 1].hi, s->v6[i].lo) >= 0) {
			if (a6_cmp(s->v6[i].hi, s->v6[k - 1].hi) > 0)
				s->v6[k - 1].hi = s->v6[i].hi;
		} else {
			s->v6[k++] = s->v6[i];
		}
	}
	s->n6 = k;
	return s;
}

void cidrset_free(struct cidrset *s)
{
	if (!s)
		return;
	free(s->v4);
	free(s->v6);
	free(s);
}

bool cidrset_contains(const struct cidrset *s, int family, const uint8_t *addr)
{
	size_t lo = 0, hi;

	if (!s)
		return false;
	if (family == AF_INET) {
		uint32_t a = be32(addr);
		hi = s->n4;
		while (lo < hi) { /* first range with lo > a, minus one */
			size_t mid = lo + (hi - lo) / 2;
			if (s->v4[mid].lo <= a)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo > 0 && a <= s->v4[lo - 1].hi;
	}
	if (family == AF_INET6) {
		struct a6 a = { be64(addr), be64(addr + 8) };
		hi = s->n6;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (a6_cmp(s->v6[mid].lo, a) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo > 0 && a6_cmp(a, s->v6[lo - 1].hi) <= 0;
	}
	return false;
}

size_t cidrset_ranges(const struct cidrset *s)
{
	return s ? s->n4 + s->n6 : 0;
}
