/* test_revnames.c -- dns/revnames.c: an address names the last name answered for it, until
 * its expiry; the table stays within its bound, dropping the least recently answered. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/revnames.h"
#include "tests/unit/check.h"

static void put4(struct dns_revnames *r, const char *ip, const char *name, double exp)
{
	uint8_t a[4];

	inet_pton(AF_INET, ip, a);
	dns_revnames_put(r, AF_INET, a, name, exp);
}

static int get4(struct dns_revnames *r, const char *ip, double now, char *out)
{
	uint8_t a[4];

	inet_pton(AF_INET, ip, a);
	return dns_revnames_get(r, AF_INET, a, now, out, 256);
}

static void names_and_expiry(void)
{
	struct dns_revnames *r = dns_revnames_new(8);
	char out[256];
	uint8_t a6[16], a4as6[16] = { 0 };

	CHECK(r != NULL);
	put4(r, "198.18.1.2", "a.example", 100);
	CHECK(get4(r, "198.18.1.2", 50, out) == 0 && strcmp(out, "a.example") == 0);
	CHECK(get4(r, "198.18.1.3", 50, out) == -1);
	CHECK(get4(r, "198.18.1.2", 101, out) == -1); /* expired */
	put4(r, "198.18.1.2", "b.example", 200); /* the last answer wins */
	CHECK(get4(r, "198.18.1.2", 150, out) == 0 && strcmp(out, "b.example") == 0);
	inet_pton(AF_INET6, "fd00:1::2", a6);
	dns_revnames_put(r, AF_INET6, a6, "six.example", 100);
	CHECK(dns_revnames_get(r, AF_INET6, a6, 1, out, sizeof(out)) == 0 &&
	      strcmp(out, "six.example") == 0);
	/* the same first 4 bytes as an IPv6 address are another key */
	memcpy(a4as6, "\xc6\x12\x01\x02", 4);
	CHECK(dns_revnames_get(r, AF_INET6, a4as6, 1, out, sizeof(out)) == -1);
	dns_revnames_free(r);
}

static void bounded(void)
{
	struct dns_revnames *r = dns_revnames_new(3);
	char out[256];

	put4(r, "198.18.0.1", "one", 100);
	put4(r, "198.18.0.2", "two", 100);
	put4(r, "198.18.0.3", "three", 100);
	put4(r, "198.18.0.1", "one", 100); /* answered again: the most recent */
	put4(r, "198.18.0.4", "four", 100); /* drops two, the least recent */
	CHECK(get4(r, "198.18.0.2", 1, out) == -1);
	CHECK(get4(r, "198.18.0.1", 1, out) == 0);
	CHECK(get4(r, "198.18.0.3", 1, out) == 0);
	CHECK(get4(r, "198.18.0.4", 1, out) == 0);
	dns_revnames_free(r);
}

int main(void)
{
	RUN(names_and_expiry);
	RUN(bounded);
	CHECK_EXIT();
}
