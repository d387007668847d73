/* test_fakeip_learned.c -- unit tests for the fake-IP pool (dns/fakeip.c: stable per name
 * in any case, both directions, IPv6 at the same offset, LRU reuse when full, addresses
 * outside the pool) and the learned-address table (core/learned.c: insert, extend, kind
 * change, expiry with removal, many entries against a reference). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/config.h"
#include "capture/learned.h"
#include "dns/fakeip.h"
#include "dns/msg.h"
#include "tests/unit/check.h"

static void wire(const char *t, uint8_t *out, size_t *len)
{
	if (dns_name_from_text(t, out, len) < 0)
		abort();
}

static struct config_fake_ip cfg(const char *r4, const char *r6, unsigned size)
{
	struct config_fake_ip c = { .enable = true, .size = size };

	if (cidr_parse(r4, &c.range) < 0)
		abort();
	if (r6) {
		if (cidr_parse(r6, &c.range6) < 0)
			abort();
		c.has_range6 = true;
	}
	return c;
}

static void test_fakeip_stable(void)
{
	struct config_fake_ip c = cfg("198.19.0.0/16", "fd00:fa4e::/96", 1000);
	struct fakeip *f = fakeip_new(&c);
	uint8_t n1[DNS_NAME_MAX], n2[DNS_NAME_MAX], a4[4], b4[4], a6[16], b6[16], x[16];
	size_t l1, l2;
	char host[256], t[64];

	CHECK(f && fakeip_has_v6(f) && fakeip_same(f, &c));
	wire("www.Example.com", n1, &l1);
	wire("WWW.example.COM.", n2, &l2);
	fakeip_assign(f, n1, l1, a4, a6);
	fakeip_assign(f, n2, l2, b4, b6);
	CHECK(!memcmp(a4, b4, 4) && !memcmp(a6, b6, 16)); /* case does not matter */
	inet_ntop(AF_INET, a4, t, sizeof(t));
	CHECK(!strcmp(t, "198.19.0.1"));
	inet_ntop(AF_INET6, a6, t, sizeof(t));
	CHECK(!strcmp(t, "fd00:fa4e::1"));
	CHECK(fakeip_name(f, AF_INET, a4, host, sizeof(host)) == 0 && !strcmp(host, "www.example.com"));
	CHECK(fakeip_name(f, AF_INET6, a6, host, sizeof(host)) == 0 && !strcmp(host, "www.example.com"));
	wire("other.example", n2, &l2);
	CHECK(!fakeip_known(f, n2, l2));
	fakeip_assign(f, n2, l2, b4, b6);
	CHECK(fakeip_known(f, n2, l2) && memcmp(a4, b4, 4));
	inet_pton(AF_INET, "198.19.0.200", x); /* in the range, given to nobody */
	CHECK(fakeip_name(f, AF_INET, x, host, sizeof(host)) == 1);
	inet_pton(AF_INET, "198.19.255.255", x);
	CHECK(fakeip_name(f, AF_INET, x, host, sizeof(host)) == 1 && fakeip_contains(f, AF_INET, x));
	inet_pton(AF_INET, "198.20.0.1", x);
	CHECK(fakeip_name(f, AF_INET, x, host, sizeof(host)) == -1 && !fakeip_contains(f, AF_INET, x));
	inet_pton(AF_INET6, "fd00:fa4f::1", x);
	CHECK(fakeip_name(f, AF_INET6, x, host, sizeof(host)) == -1);
	c.size = 999;
	CHECK(!fakeip_same(f, &c));
	fakeip_free(f);
}

static void test_fakeip_lru(void)
{
	struct config_fake_ip c = cfg("198.19.0.0/29", NULL, 1000); /* 6 usable addresses */
	struct fakeip *f = fakeip_new(&c);
	uint8_t n[DNS_NAME_MAX], a[8][4], a6[16], x[4];
	size_t l;
	char text[32], host[256];

	for (int i = 0; i < 6; i++) {
		snprintf(text, sizeof(text), "n%d.test", i);
		wire(text, n, &l);
		fakeip_assign(f, n, l, a[i], a6);
	}
	CHECK(a[5][3] == 6 && !fakeip_has_v6(f));
	/* n0 is used again, so n1 is the least recently used and gives its address up */
	CHECK(fakeip_name(f, AF_INET, a[0], host, sizeof(host)) == 0 && !strcmp(host, "n0.test"));
	wire("n6.test", n, &l);
	fakeip_assign(f, n, l, x, a6);
	CHECK(!memcmp(x, a[1], 4));
	CHECK(fakeip_name(f, AF_INET, a[1], host, sizeof(host)) == 0 && !strcmp(host, "n6.test"));
	wire("n1.test", n, &l);
	CHECK(!fakeip_known(f, n, l));
	wire("n0.test", n, &l);
	CHECK(fakeip_known(f, n, l));
	fakeip_free(f);
}

static struct learned_addr la(const char *ip, bool proxy, double exp)
{
	struct learned_addr a = { .proxy = proxy, .expires = exp };
	a.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	inet_pton(a.family, ip, a.addr);
	return a;
}

static int gone_n;
static void count_gone(void *ctx, const struct learned_addr *a)
{
	(void)ctx;
	(void)a;
	gone_n++;
}

static void test_learned(void)
{
	struct learned *l = learned_new();
	struct learned_addr a = la("198.18.5.1", false, 100), b = la("fd00:5::1", true, 50);

	CHECK(learned_put(l, &a) == 1);
	CHECK(learned_put(l, &a) == 0);
	a.expires = 200;
	CHECK(learned_put(l, &a) == 2);
	a.expires = 150; /* an earlier expiry never shortens it */
	CHECK(learned_put(l, &a) == 0);
	a.proxy = true; /* a kind change counts as new */
	CHECK(learned_put(l, &a) == 1);
	CHECK(learned_put(l, &b) == 1 && learned_count(l) == 2);
	CHECK(learned_next_expiry(l) == 50);
	gone_n = 0;
	learned_each(l, 60, NULL, count_gone, NULL);
	CHECK(gone_n == 1 && learned_count(l) == 1);
	learned_each(l, 151, NULL, count_gone, NULL); /* a's expiry went back to 150 */
	CHECK(gone_n == 2 && learned_count(l) == 0);
	learned_free(l);
}

/* An IPv4 key is its 4 bytes (whatever follows them in addr); the table holds
 * LEARNED_MAX entries and then refuses new ones. */
static void test_learned_keys(void)
{
	struct learned *l = learned_new();
	struct learned_addr a = la("198.18.6.1", false, 100), b;
	struct learned_addr six = la("::c612:601", false, 100); /* the same 4 bytes, IPv6 */
	int full = 0;

	CHECK(learned_put(l, &a) == 1);
	b = a;
	memset(b.addr + 4, 0xAB, 12);
	CHECK(learned_put(l, &b) == 0 && learned_count(l) == 1);
	CHECK(learned_put(l, &six) == 1 && learned_count(l) == 2);
	for (unsigned i = 0; learned_count(l) < LEARNED_MAX; i++) {
		struct learned_addr c = { .family = AF_INET6, .expires = 100 };
		memcpy(c.addr, &i, sizeof(i));
		c.addr[15] = 1;
		if (learned_put(l, &c) != 1)
			full++;
	}
	CHECK(full == 0);
	b = la("198.18.6.2", false, 100);
	CHECK(learned_put(l, &b) == -1 && learned_count(l) == LEARNED_MAX);
	CHECK(learned_put(l, &a) == 0); /* one that is there is still found */
	learned_each(l, 101, NULL, NULL, NULL);
	CHECK(learned_count(l) == 0);
	learned_free(l);
}

/* 20 000 random operations against a plain array. */
static int in_ref, found_ref;
static struct learned_addr ref[512];
static bool ref_live[512];
static void mark_seen(void *ctx, const struct learned_addr *a)
{
	(void)ctx;
	for (int i = 0; i < 512; i++)
		if (ref_live[i] && a->family == ref[i].family &&
		    !memcmp(a->addr, ref[i].addr, 16) && a->expires == ref[i].expires)
			found_ref++;
}

static void test_learned_random(void)
{
	struct learned *l = learned_new();
	double now = 1;
	int bad = 0;

	srand(3);
	for (int i = 0; i < 512; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "198.18.%d.%d", i / 256, i % 256);
		ref[i] = la(ip, false, 0);
	}
	for (int op = 0; op < 20000; op++) {
		int i = rand() % 512;
		if (rand() % 4) {
			struct learned_addr a = ref[i];
			a.expires = now + 1 + rand() % 50;
			learned_put(l, &a);
			if (!ref_live[i] || a.expires > ref[i].expires)
				ref[i].expires = a.expires;
			ref_live[i] = true;
		} else {
			now += 1;
			learned_each(l, now, NULL, NULL, NULL);
			for (int k = 0; k < 512; k++)
				if (ref_live[k] && ref[k].expires <= now)
					ref_live[k] = false;
		}
		if (op % 1000 == 0) {
			in_ref = 0;
			for (int k = 0; k < 512; k++)
				in_ref += ref_live[k];
			found_ref = 0;
			learned_each(l, 0, mark_seen, NULL, NULL);
			if (found_ref != in_ref || (int)learned_count(l) != in_ref)
				bad++;
		}
	}
	CHECK(bad == 0);
	learned_free(l);
}

int main(void)
{
	RUN(test_fakeip_stable);
	RUN(test_fakeip_lru);
	RUN(test_learned);
	RUN(test_learned_keys);
	RUN(test_learned_random);
	CHECK_EXIT();
}
