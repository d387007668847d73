/* test_dns_cache.c -- unit tests for the DNS answer cache (dns/cache.c): the key includes
 * qtype and qclass (an A answer is never served for AAAA), case variants share an entry and
 * the served question keeps the client's case, TTL countdown and expiry, min/max clamping,
 * negative caching (NXDOMAIN, NODATA) by the SOA, what is never cached, LRU eviction, a
 * disabled cache, the prefetch hint, and 10 000 random operations against a reference. */
#include <stdlib.h>
#include <string.h>

#include "dns/cache.h"
#include "dns/msg.h"
#include "tests/unit/check.h"
#include "tests/unit/dns_view.h"

/* An upstream answer to build. */
struct spec {
	const char *qname;
	uint16_t qtype, qclass; /* qclass 0 means IN */
	unsigned rcode;
	unsigned n; /* records of qtype in the answer section */
	uint32_t ttl, serial; /* their TTL; the first one's rdata starts with serial */
	bool cname; /* answer starts with qname CNAME alias.example.net, owner of the records */
	uint32_t cname_ttl;
	bool soa; /* authority: example.com SOA */
	uint32_t soa_ttl, soa_min;
	bool edns;
};

/* A message, its parsed view and the bytes it points into. */
struct ans {
	uint8_t b[4096];
	size_t n;
	struct dns_msg m;
};

static void wire_name(const char *text, uint8_t *out, size_t *len)
{
	if (dns_name_from_text(text, out, len) < 0)
		abort();
}

static struct dns_question question(const char *name, uint16_t qtype)
{
	struct dns_question q = { .qtype = qtype, .qclass = DNS_C_IN };
	size_t n;

	wire_name(name, q.name, &n);
	q.name_len = (uint8_t)n;
	return q;
}

static void build(struct ans *a, const struct spec *s)
{
	struct dns_question q = question(s->qname, s->qtype);
	uint8_t alias[DNS_NAME_MAX], zone[DNS_NAME_MAX], soa_rd[DNS_NAME_MAX * 2 + 20];
	uint8_t rdata[8][16];
	struct dns_rr an[9], ns[1];
	struct dns_edns edns = { .present = true, .udp_size = 1232 };
	struct dns_reply r;
	size_t alias_len, zone_len, k, nan = 0;
	char err[256];

	if (s->qclass)
		q.qclass = s->qclass;
	wire_name("alias.example.net", alias, &alias_len);
	wire_name("example.com", zone, &zone_len);
	if (s->cname)
		an[nan++] = (struct dns_rr){ .name = q.name, .name_len = q.name_len,
					     .type = DNS_T_CNAME, .rclass = q.qclass,
					     .ttl = s->cname_ttl, .rdata = alias,
					     .rdlen = (uint16_t)alias_len };
	for (unsigned i = 0; i < s->n && i < 8; i++) {
		uint32_t v = s->serial + i;

		memset(rdata[i], 0, sizeof(rdata[i]));
		rdata[i][0] = (uint8_t)(v >> 24), rdata[i][1] = (uint8_t)(v >> 16);
		rdata[i][2] = (uint8_t)(v >> 8), rdata[i][3] = (uint8_t)v;
		an[nan++] = (struct dns_rr){ .name = s->cname ? alias : q.name,
					     .name_len = s->cname ? alias_len : q.name_len,
					     .type = s->qtype, .rclass = q.qclass, .ttl = s->ttl,
					     .rdata = rdata[i],
					     .rdlen = s->qtype == DNS_T_AAAA ? 16 : 4 };
	}
	wire_name("ns.example.com", soa_rd, &k);
	wire_name("admin.example.com", soa_rd + k, &zone_len);
	k += zone_len;
	wire_name("example.com", zone, &zone_len);
	{
		const uint32_t f[5] = { 2024010101, 7200, 3600, 1209600, s->soa_min };

		for (int i = 0; i < 5; i++, k += 4) {
			soa_rd[k] = (uint8_t)(f[i] >> 24), soa_rd[k + 1] = (uint8_t)(f[i] >> 16);
			soa_rd[k + 2] = (uint8_t)(f[i] >> 8), soa_rd[k + 3] = (uint8_t)f[i];
		}
	}
	ns[0] = (struct dns_rr){ .name = zone, .name_len = zone_len, .type = DNS_T_SOA,
				 .rclass = DNS_C_IN, .ttl = s->soa_ttl, .rdata = soa_rd,
				 .rdlen = (uint16_t)k };
	memset(&r, 0, sizeof(r));
	r.id = 0x4242;
	r.flags = DNS_F_RD | DNS_F_RA | DNS_F_AA;
	r.rcode = s->rcode;
	r.q = &q;
	r.rr[DNS_SEC_ANSWER] = an;
	r.n[DNS_SEC_ANSWER] = nan;
	r.rr[DNS_SEC_AUTHORITY] = ns;
	r.n[DNS_SEC_AUTHORITY] = s->soa ? 1 : 0;
	r.edns = s->edns ? &edns : NULL;
	if (dns_write_reply(&r, a->b, sizeof(a->b), &a->n, err, sizeof(err)) < 0 ||
	    dns_msg_parse(&a->m, a->b, a->n, err, sizeof(err)) < 0) {
		printf("build: %s\n", err);
		abort();
	}
}

/* Sets header flag bits the writer will not set (TC, QR clear, opcode) and re-parses. */
static void patch_flags(struct ans *a, uint16_t set, uint16_t clear)
{
	uint16_t f = (uint16_t)((a->b[2] << 8 | a->b[3]) & ~clear) | set;
	char err[256];

	a->b[2] = (uint8_t)(f >> 8), a->b[3] = (uint8_t)f;
	if (dns_msg_parse(&a->m, a->b, a->n, err, sizeof(err)) < 0)
		abort();
}

static int put(struct dns_cache *c, const struct spec *s, double now)
{
	struct ans a;

	build(&a, s);
	return dns_cache_put(c, &a.m, now);
}

/* Looks up (name, qtype) at now; on a hit, the served message parsed into *a. */
static int get(struct dns_cache *c, const char *name, uint16_t qtype, uint16_t id, double now,
	       struct ans *a, bool *prefetch)
{
	struct dns_question q = question(name, qtype);
	char err[256];
	int hit;

	hit = dns_cache_get(c, &q, id, now, a->b, sizeof(a->b), &a->m, prefetch);
	if (hit && !dns_view_is_parse(&a->m)) {
		printf("  the view of the served message is not its parse\n");
		return -1;
	}
	a->n = hit ? a->m.len : 0;
	if (hit && dns_msg_parse(&a->m, a->b, a->n, err, sizeof(err)) < 0) {
		printf("  served message does not parse: %s\n", err);
		return -1;
	}
	return hit;
}

/* Every TTL but OPT's equals ttl. */
static bool all_ttls(const struct ans *a, uint32_t ttl)
{
	struct dns_rr_iter it;
	struct dns_rr rr;
	unsigned n = 0;

	dns_rr_iter_init(&it, &a->m);
	while (dns_rr_next(&it, &rr)) {
		if (rr.type == DNS_T_OPT)
			continue;
		if (rr.ttl != ttl) {
			printf("  RR type %u: TTL %u, want %u\n", rr.type, rr.ttl, ttl);
			return false;
		}
		n++;
	}
	return n > 0;
}

/* TTL of the k-th RR (OPT excluded); UINT32_MAX when there is none. */
static uint32_t ttl_of(const struct ans *a, unsigned k)
{
	struct dns_rr_iter it;
	struct dns_rr rr;

	dns_rr_iter_init(&it, &a->m);
	while (dns_rr_next(&it, &rr))
		if (rr.type != DNS_T_OPT && k-- == 0)
			return rr.ttl;
	return UINT32_MAX;
}

/* The first answer record of type t: its rdata's first 4 bytes; 0 when there is none. */
static uint32_t serial_of(const struct ans *a, uint16_t t, uint16_t *rdlen)
{
	struct dns_rr_iter it;
	struct dns_rr rr;

	dns_rr_iter_init(&it, &a->m);
	while (dns_rr_next(&it, &rr))
		if (rr.section == DNS_SEC_ANSWER && rr.type == t && rr.rdlen >= 4) {
			if (rdlen)
				*rdlen = rr.rdlen;
			return (uint32_t)rr.rdata[0] << 24 | (uint32_t)rr.rdata[1] << 16 |
			       (uint32_t)rr.rdata[2] << 8 | rr.rdata[3];
		}
	return 0;
}

static void test_qtype_in_key(void)
{
	struct dns_cache *c = dns_cache_new(100, 0, 86400);
	struct spec a4 = { .qname = "example.com", .qtype = DNS_T_A, .n = 1, .ttl = 300,
			   .serial = 0x0A000001 };
	struct spec a6 = a4;
	struct dns_question q;
	struct ans out;
	uint16_t rdlen = 0;

	a6.qtype = DNS_T_AAAA;
	a6.serial = 0x20010db8;
	CHECK(c != NULL);
	/* the predecessor's bug: an A answer served for AAAA */
	CHECK(put(c, &a4, 0) == 1);
	CHECK(get(c, "example.com", DNS_T_AAAA, 1, 1, &out, NULL) == 0);
	CHECK(get(c, "example.com", DNS_T_A, 1, 1, &out, NULL) == 1);
	CHECK(out.m.q.qtype == DNS_T_A && serial_of(&out, DNS_T_A, &rdlen) == 0x0A000001);
	CHECK(rdlen == 4);
	/* another class is another key */
	q = question("example.com", DNS_T_A);
	q.qclass = 3;
	CHECK(dns_cache_get(c, &q, 1, 1, out.b, sizeof(out.b), &out.m, NULL) == 0);
	/* and the reverse */
	dns_cache_clear(c);
	CHECK(dns_cache_stats(c)->entries == 0);
	CHECK(put(c, &a6, 0) == 1);
	CHECK(get(c, "example.com", DNS_T_A, 1, 1, &out, NULL) == 0);
	CHECK(get(c, "example.com", DNS_T_AAAA, 1, 1, &out, NULL) == 1);
	CHECK(serial_of(&out, DNS_T_AAAA, &rdlen) == 0x20010db8 && rdlen == 16);
	/* both at once, each its own */
	CHECK(put(c, &a4, 0) == 1);
	CHECK(dns_cache_stats(c)->entries == 2);
	CHECK(get(c, "example.com", DNS_T_A, 1, 1, &out, NULL) == 1);
	CHECK(serial_of(&out, DNS_T_A, NULL) == 0x0A000001 && serial_of(&out, DNS_T_AAAA, NULL) == 0);
	CHECK(get(c, "example.com", DNS_T_AAAA, 1, 1, &out, NULL) == 1);
	CHECK(serial_of(&out, DNS_T_AAAA, NULL) == 0x20010db8 && serial_of(&out, DNS_T_A, NULL) == 0);
	CHECK(get(c, "other.example.com", DNS_T_A, 1, 1, &out, NULL) == 0);
	dns_cache_free(c);
}

static void test_case_variants(void)
{
	struct dns_cache *c = dns_cache_new(100, 0, 86400);
	struct spec s = { .qname = "WWW.Example.COM", .qtype = DNS_T_A, .n = 2, .ttl = 300,
			  .serial = 7, .edns = true };
	struct dns_question want = question("wWw.eXAMPLE.com", DNS_T_A);
	struct dns_rr_iter it;
	struct dns_rr rr;
	struct ans out;

	CHECK(put(c, &s, 0) == 1);
	CHECK(get(c, "wWw.eXAMPLE.com", DNS_T_A, 0xBEEF, 5, &out, NULL) == 1);
	CHECK(out.m.id == 0xBEEF);
	CHECK(out.m.q.name_len == want.name_len &&
	      memcmp(out.m.q.name, want.name, want.name_len) == 0);
	CHECK(memcmp(out.b + DNS_HEADER_LEN, want.name, want.name_len) == 0);
	/* the answers' owners are pointers to the question: they follow the client's case */
	CHECK(out.b[DNS_HEADER_LEN + want.name_len + 4] == 0xC0);
	dns_rr_iter_init(&it, &out.m);
	CHECK(dns_rr_next(&it, &rr) && rr.type == DNS_T_A);
	CHECK(rr.name_len == want.name_len && memcmp(rr.name, want.name, want.name_len) == 0);
	CHECK(serial_of(&out, DNS_T_A, NULL) == 7);
	CHECK(out.m.edns.present && out.m.edns.udp_size == 1232);
	CHECK((out.m.flags & DNS_F_AA) == 0 && (out.m.flags & DNS_F_RA));
	/* the entry itself keeps the first asker's case: ask again in it */
	CHECK(get(c, "WWW.Example.COM", DNS_T_A, 2, 5, &out, NULL) == 1);
	want = question("WWW.Example.COM", DNS_T_A);
	CHECK(memcmp(out.m.q.name, want.name, want.name_len) == 0);
	/* a case variant's answer replaces the entry instead of adding one */
	s.qname = "www.example.com";
	s.serial = 8;
	CHECK(put(c, &s, 10) == 1);
	CHECK(dns_cache_stats(c)->entries == 1 && dns_cache_stats(c)->inserts == 2);
	CHECK(get(c, "WWW.EXAMPLE.COM", DNS_T_A, 3, 10, &out, NULL) == 1);
	CHECK(serial_of(&out, DNS_T_A, NULL) == 8);
	dns_cache_free(c);
}

static void test_ttl_countdown(void)
{
	struct dns_cache *c = dns_cache_new(100, 0, 86400);
	struct spec s = { .qname = "example.com", .qtype = DNS_T_A, .n = 3, .ttl = 300,
			  .serial = 1, .edns = true };
	struct spec chain = { .qname = "www.example.org", .qtype = DNS_T_A, .n = 1, .ttl = 300,
			      .serial = 2, .cname = true, .cname_ttl = 3600 };
	struct ans out;

	CHECK(put(c, &s, 0) == 1);
	CHECK(get(c, "example.com", DNS_T_A, 1, 0, &out, NULL) == 1 && all_ttls(&out, 300));
	CHECK(get(c, "example.com", DNS_T_A, 1, 100, &out, NULL) == 1 && all_ttls(&out, 200));
	CHECK(out.m.edns.present && out.m.edns.udp_size == 1232); /* OPT left alone */
	CHECK(get(c, "example.com", DNS_T_A, 1, 100.99, &out, NULL) == 1 && all_ttls(&out, 200));
	CHECK(get(c, "example.com", DNS_T_A, 1, 299.5, &out, NULL) == 1 && all_ttls(&out, 1));
	/* aging works on the copy: the stored TTLs are intact */
	CHECK(get(c, "example.com", DNS_T_A, 1, 50, &out, NULL) == 1 && all_ttls(&out, 250));
	CHECK(dns_cache_stats(c)->hits == 5 && dns_cache_stats(c)->expired == 0);
	CHECK(get(c, "example.com", DNS_T_A, 1, 301, &out, NULL) == 0);
	CHECK(dns_cache_stats(c)->entries == 0 && dns_cache_stats(c)->expired == 1);
	CHECK(dns_cache_stats(c)->misses == 1);
	CHECK(get(c, "example.com", DNS_T_A, 1, 301, &out, NULL) == 0);
	CHECK(dns_cache_stats(c)->expired == 1 && dns_cache_stats(c)->misses == 2);
	/* at exactly the TTL it would say 0: expired */
	CHECK(put(c, &s, 1000) == 1);
	CHECK(get(c, "example.com", DNS_T_A, 1, 1299.99, &out, NULL) == 1 && all_ttls(&out, 1));
	CHECK(get(c, "example.com", DNS_T_A, 1, 1300, &out, NULL) == 0);
	/* a CNAME chain lives as long as its shortest TTL; each RR counts down from its own */
	CHECK(put(c, &chain, 0) == 1);
	CHECK(get(c, "www.example.org", DNS_T_A, 1, 100, &out, NULL) == 1);
	CHECK(ttl_of(&out, 0) == 3500 && ttl_of(&out, 1) == 200);
	CHECK(get(c, "www.example.org", DNS_T_A, 1, 300, &out, NULL) == 0);
	/* a clock that went backwards serves the stored TTLs */
	CHECK(put(c, &s, 500) == 1);
	CHECK(get(c, "example.com", DNS_T_A, 1, 400, &out, NULL) == 1 && all_ttls(&out, 300));
	dns_cache_free(c);
}

static void test_clamp(void)
{
	struct dns_cache *c = dns_cache_new(100, 60, 3600);
	struct spec s = { .qname = "short.example", .qtype = DNS_T_A, .n = 2, .ttl = 10 };
	struct spec chain = { .qname = "chain.example", .qtype = DNS_T_A, .n = 1, .ttl = 100,
			      .cname = true, .cname_ttl = 7200 };
	struct ans out;

	/* min_ttl raises the entry and its records */
	CHECK(put(c, &s, 0) == 1);
	CHECK(get(c, "short.example", DNS_T_A, 1, 0, &out, NULL) == 1 && all_ttls(&out, 60));
	CHECK(get(c, "short.example", DNS_T_A, 1, 30, &out, NULL) == 1 && all_ttls(&out, 30));
	CHECK(get(c, "short.example", DNS_T_A, 1, 59.5, &out, NULL) == 1 && all_ttls(&out, 1));
	CHECK(get(c, "short.example", DNS_T_A, 1, 60, &out, NULL) == 0);
	/* max_ttl lowers them */
	s.ttl = 86400;
	CHECK(put(c, &s, 0) == 1);
	CHECK(get(c, "short.example", DNS_T_A, 1, 0, &out, NULL) == 1 && all_ttls(&out, 3600));
	CHECK(get(c, "short.example", DNS_T_A, 1, 3599, &out, NULL) == 1 && all_ttls(&out, 1));
	CHECK(get(c, "short.example", DNS_T_A, 1, 3600, &out, NULL) == 0);
	/* each record capped, the entry at the smallest */
	CHECK(put(c, &chain, 0) == 1);
	CHECK(get(c, "chain.example", DNS_T_A, 1, 0, &out, NULL) == 1);
	CHECK(ttl_of(&out, 0) == 3600 && ttl_of(&out, 1) == 100);
	CHECK(get(c, "chain.example", DNS_T_A, 1, 100, &out, NULL) == 0);
	/* TTL 0: cached for min_ttl, or not at all without one */
	s.ttl = 0;
	CHECK(put(c, &s, 0) == 1);
	CHECK(get(c, "short.example", DNS_T_A, 1, 1, &out, NULL) == 1 && all_ttls(&out, 59));
	dns_cache_free(c);
	c = dns_cache_new(100, 0, 3600);
	CHECK(put(c, &s, 0) == 0);
	CHECK(dns_cache_stats(c)->entries == 0 && dns_cache_stats(c)->inserts == 0);
	s.ttl = 0x80000000u; /* top bit set: 0 (RFC 2181 §8) */
	CHECK(put(c, &s, 0) == 0);
	dns_cache_free(c);
	/* min_ttl above max_ttl: max_ttl wins */
	c = dns_cache_new(100, 500, 100);
	s.ttl = 10;
	CHECK(put(c, &s, 0) == 1);
	CHECK(get(c, "short.example", DNS_T_A, 1, 0, &out, NULL) == 1 && all_ttls(&out, 100));
	dns_cache_free(c);
}

static void test_negative(void)
{
	struct dns_cache *c = dns_cache_new(100, 0, 86400);
	struct spec nx = { .qname = "nope.example.com", .qtype = DNS_T_A,
			   .rcode = DNS_R_NXDOMAIN, .soa = true, .soa_ttl = 900, .soa_min = 300 };
	struct spec nodata = { .qname = "v4only.example.com", .qtype = DNS_T_AAAA, .soa = true,
			       .soa_ttl = 600, .soa_min = 60, .edns = true };
	struct spec cname_nodata = nodata;
	struct ans out;

	/* NXDOMAIN: min(SOA TTL, MINIMUM); the served SOA says what is left */
	CHECK(put(c, &nx, 0) == 1);
	CHECK(get(c, "nope.example.com", DNS_T_A, 1, 0, &out, NULL) == 1);
	CHECK(dns_msg_rcode(&out.m) == DNS_R_NXDOMAIN && out.m.ancount == 0);
	CHECK(out.m.nscount == 1 && all_ttls(&out, 300));
	CHECK(get(c, "nope.example.com", DNS_T_A, 1, 299, &out, NULL) == 1 && all_ttls(&out, 1));
	CHECK(get(c, "nope.example.com", DNS_T_A, 1, 300, &out, NULL) == 0);
	CHECK(dns_cache_stats(c)->expired == 1);
	nx.soa_ttl = 100;
	CHECK(put(c, &nx, 0) == 1);
	CHECK(get(c, "nope.example.com", DNS_T_A, 1, 99, &out, NULL) == 1 && all_ttls(&out, 1));
	CHECK(get(c, "nope.example.com", DNS_T_A, 1, 100, &out, NULL) == 0);
	/* no SOA: not cached (RFC 2308 §5) */
	nx.soa = false;
	CHECK(put(c, &nx, 0) == 0);
	/* nor with only a CNAME to go by */
	nx.cname = true;
	nx.cname_ttl = 3600;
	CHECK(put(c, &nx, 0) == 0);
	nx.cname = false;
	/* NODATA likewise */
	CHECK(put(c, &nodata, 0) == 1);
	CHECK(get(c, "v4only.example.com", DNS_T_A, 1, 0, &out, NULL) == 0);
	CHECK(get(c, "v4only.example.com", DNS_T_AAAA, 1, 0, &out, NULL) == 1);
	CHECK(dns_msg_rcode(&out.m) == DNS_R_NOERROR && out.m.ancount == 0 && all_ttls(&out, 60));
	CHECK(get(c, "v4only.example.com", DNS_T_AAAA, 1, 59, &out, NULL) == 1);
	CHECK(get(c, "v4only.example.com", DNS_T_AAAA, 1, 60, &out, NULL) == 0);
	nodata.soa = false;
	CHECK(put(c, &nodata, 0) == 0);
	/* NODATA at the end of a CNAME chain: the SOA's negative TTL bounds it */
	cname_nodata.qname = "alias.v4only.example.com";
	cname_nodata.cname = true;
	cname_nodata.cname_ttl = 3600;
	CHECK(put(c, &cname_nodata, 0) == 1);
	CHECK(get(c, "alias.v4only.example.com", DNS_T_AAAA, 1, 10, &out, NULL) == 1);
	CHECK(out.m.ancount == 1 && ttl_of(&out, 0) == 3590);
	CHECK(get(c, "alias.v4only.example.com", DNS_T_AAAA, 1, 60, &out, NULL) == 0);
	dns_cache_free(c);
	/* max_ttl caps negative answers too */
	c = dns_cache_new(100, 0, 50);
	nx.soa = true;
	CHECK(put(c, &nx, 0) == 1);
	CHECK(get(c, "nope.example.com", DNS_T_A, 1, 0, &out, NULL) == 1 && all_ttls(&out, 50));
	CHECK(get(c, "nope.example.com", DNS_T_A, 1, 50, &out, NULL) == 0);
	dns_cache_free(c);
}

static void test_not_cacheable(void)
{
	struct dns_cache *c = dns_cache_new(100, 30, 86400);
	struct spec ok = { .qname = "example.com", .qtype = DNS_T_A, .n = 1, .ttl = 300,
			   .serial = 99, .soa = true, .soa_ttl = 300, .soa_min = 300 };
	const unsigned bad_rcodes[] = { DNS_R_SERVFAIL, DNS_R_REFUSED, DNS_R_FORMERR,
					DNS_R_NOTIMP, 6, 9, DNS_R_BADVERS };
	struct ans a, out;

	for (size_t i = 0; i < sizeof(bad_rcodes) / sizeof(bad_rcodes[0]); i++) {
		struct spec s = ok;

		s.rcode = bad_rcodes[i];
		s.edns = s.rcode > 15;
		CHECK(put(c, &s, 0) == 0);
	}
	/* truncated */
	build(&a, &ok);
	patch_flags(&a, DNS_F_TC, 0);
	CHECK(dns_cache_put(c, &a.m, 0) == 0);
	/* a query, not a reply */
	build(&a, &ok);
	patch_flags(&a, 0, DNS_F_QR);
	CHECK(dns_cache_put(c, &a.m, 0) == 0);
	/* opcode other than QUERY (NOTIFY) */
	build(&a, &ok);
	patch_flags(&a, 4 << 11, 0);
	CHECK(dns_cache_put(c, &a.m, 0) == 0);
	/* a referral: NOERROR, no answer, no SOA */
	{
		struct spec s = ok;

		s.n = 0;
		s.soa = false;
		CHECK(put(c, &s, 0) == 0);
	}
	CHECK(dns_cache_stats(c)->entries == 0 && dns_cache_stats(c)->inserts == 0);
	/* a SERVFAIL for a cached name leaves the entry alone */
	CHECK(put(c, &ok, 0) == 1);
	ok.rcode = DNS_R_SERVFAIL;
	CHECK(put(c, &ok, 1) == 0);
	CHECK(get(c, "example.com", DNS_T_A, 1, 2, &out, NULL) == 1);
	CHECK(dns_msg_rcode(&out.m) == DNS_R_NOERROR && serial_of(&out, DNS_T_A, NULL) == 99);
	/* an out buffer too small for it is a miss, and the entry stays */
	{
		struct dns_question q = question("example.com", DNS_T_A);
		struct dns_msg m;

		CHECK(dns_cache_get(c, &q, 1, 2, out.b, 20, &m, NULL) == 0);
		CHECK(dns_cache_get(c, &q, 1, 2, out.b, sizeof(out.b), &m, NULL) == 1);
		CHECK(dns_cache_get(c, &q, 1, 2, out.b, m.len, &m, NULL) == 1);
	}
	CHECK(dns_cache_stats(c)->entries == 1);
	dns_cache_free(c);
}

static void test_lru(void)
{
	struct dns_cache *c = dns_cache_new(3, 0, 86400);
	const char *names[] = { "a.test", "b.test", "c.test", "d.test", "e.test" };
	struct spec s = { .qtype = DNS_T_A, .n = 1, .ttl = 300 };
	struct ans out;

	for (int i = 0; i < 3; i++) {
		s.qname = names[i];
		s.serial = (uint32_t)i + 1;
		CHECK(put(c, &s, i) == 1);
	}
	CHECK(dns_cache_stats(c)->entries == 3 && dns_cache_stats(c)->evictions == 0);
	CHECK(get(c, "a.test", DNS_T_A, 1, 5, &out, NULL) == 1); /* order now a c b */
	s.qname = "d.test";
	s.serial = 4;
	CHECK(put(c, &s, 6) == 1); /* evicts b: d a c */
	CHECK(dns_cache_stats(c)->entries == 3 && dns_cache_stats(c)->evictions == 1);
	CHECK(get(c, "b.test", DNS_T_A, 1, 7, &out, NULL) == 0);
	CHECK(get(c, "c.test", DNS_T_A, 1, 7, &out, NULL) == 1); /* c d a */
	CHECK(serial_of(&out, DNS_T_A, NULL) == 3);
	/* replacing an entry makes it the most recent and evicts nothing */
	s.qname = "a.test";
	s.serial = 11;
	CHECK(put(c, &s, 8) == 1); /* a c d */
	CHECK(dns_cache_stats(c)->evictions == 1 && dns_cache_stats(c)->entries == 3);
	s.qname = "e.test";
	s.serial = 5;
	CHECK(put(c, &s, 9) == 1); /* evicts d: e a c */
	CHECK(dns_cache_stats(c)->evictions == 2);
	CHECK(get(c, "d.test", DNS_T_A, 1, 10, &out, NULL) == 0);
	CHECK(get(c, "a.test", DNS_T_A, 1, 10, &out, NULL) == 1);
	CHECK(serial_of(&out, DNS_T_A, NULL) == 11);
	CHECK(get(c, "c.test", DNS_T_A, 1, 10, &out, NULL) == 1);
	CHECK(get(c, "e.test", DNS_T_A, 1, 10, &out, NULL) == 1);
	CHECK(dns_cache_stats(c)->hits == 5 && dns_cache_stats(c)->misses == 2);
	CHECK(dns_cache_stats(c)->inserts == 6);
	dns_cache_free(c);
}

static void test_disabled(void)
{
	struct dns_cache *c = dns_cache_new(0, 0, 86400);
	struct spec s = { .qname = "example.com", .qtype = DNS_T_A, .n = 1, .ttl = 300 };
	struct ans out;
	bool pf = true;

	CHECK(c != NULL);
	CHECK(put(c, &s, 0) == 0);
	CHECK(get(c, "example.com", DNS_T_A, 1, 0, &out, &pf) == 0 && !pf);
	CHECK(dns_cache_stats(c)->entries == 0 && dns_cache_stats(c)->misses == 1);
	CHECK(dns_cache_stats(c)->inserts == 0);
	dns_cache_clear(c);
	dns_cache_free(c);
	dns_cache_free(NULL);
}

static void test_prefetch(void)
{
	struct dns_cache *c = dns_cache_new(100, 0, 86400);
	struct spec s = { .qname = "popular.example", .qtype = DNS_T_A, .n = 1, .ttl = 300 };
	struct spec shrt = { .qname = "short.example", .qtype = DNS_T_A, .n = 1, .ttl = 8 };
	struct ans out;
	bool pf = true;

	CHECK(put(c, &s, 0) == 1);
	CHECK(get(c, "popular.example", DNS_T_A, 1, 10, &out, &pf) == 1 && !pf);
	CHECK(get(c, "popular.example", DNS_T_A, 1, 200, &out, &pf) == 1 && !pf); /* 100 s left */
	CHECK(get(c, "popular.example", DNS_T_A, 1, 280, &out, &pf) == 1 && pf); /* 20 < 30 */
	CHECK(get(c, "popular.example", DNS_T_A, 1, 281, &out, &pf) == 1 && !pf); /* only once */
	CHECK(get(c, "popular.example", DNS_T_A, 1, 290, &out, &pf) == 1 && !pf);
	/* the refreshed answer starts over */
	CHECK(put(c, &s, 285) == 1);
	CHECK(get(c, "popular.example", DNS_T_A, 1, 560, &out, &pf) == 1 && !pf); /* 1 hit */
	CHECK(get(c, "popular.example", DNS_T_A, 1, 561, &out, &pf) == 1 && pf);
	/* one hit near expiry is not popular */
	CHECK(put(c, &s, 1000) == 1);
	CHECK(get(c, "popular.example", DNS_T_A, 1, 1290, &out, &pf) == 1 && !pf);
	CHECK(get(c, "popular.example", DNS_T_A, 1, 1291, &out, &pf) == 1 && pf);
	/* short TTLs: under 5 s left counts */
	CHECK(put(c, &shrt, 0) == 1);
	CHECK(get(c, "short.example", DNS_T_A, 1, 1, &out, &pf) == 1 && !pf);
	CHECK(get(c, "short.example", DNS_T_A, 1, 2, &out, &pf) == 1 && !pf); /* 6 s left */
	CHECK(get(c, "short.example", DNS_T_A, 1, 3.5, &out, &pf) == 1 && pf); /* 4.5 s */
	/* no flag pointer: still marked */
	CHECK(put(c, &shrt, 10) == 1);
	CHECK(get(c, "short.example", DNS_T_A, 1, 14, &out, NULL) == 1);
	CHECK(get(c, "short.example", DNS_T_A, 1, 15, &out, NULL) == 1);
	CHECK(get(c, "short.example", DNS_T_A, 1, 16, &out, &pf) == 1 && !pf);
	/* a miss clears the flag */
	pf = true;
	CHECK(get(c, "absent.example", DNS_T_A, 1, 16, &out, &pf) == 0 && !pf);
	/* peek (the answer served to the queries that waited for it) is not a hit */
	{
		struct dns_question q = question("Popular.Example", DNS_T_A);
		uint64_t hits = dns_cache_stats(c)->hits;
		CHECK(put(c, &s, 2000) == 1);
		CHECK(dns_cache_peek(c, &q, 7, 2000, out.b, sizeof(out.b), &out.m) == 1);
		CHECK(out.b[0] == 0 && out.b[1] == 7 && !memcmp(out.b + 12, q.name, q.name_len));
		CHECK(dns_view_is_parse(&out.m));
		CHECK(dns_cache_stats(c)->hits == hits);
		CHECK(get(c, "popular.example", DNS_T_A, 1, 2290, &out, &pf) == 1 && !pf);
		CHECK(get(c, "popular.example", DNS_T_A, 1, 2291, &out, &pf) == 1 && pf);
		CHECK(dns_cache_peek(c, &q, 7, 2300, out.b, sizeof(out.b), &out.m) == 0);
	}
	dns_cache_free(c);
}

/* ---- random operations against a reference ---- */

#define M_NAMES 16
#define M_KEYS (M_NAMES * 2)
#define M_SIZE 8
#define M_MAX_TTL 40

struct ref {
	bool used;
	double stored;
	uint32_t ttl, serial;
	uint64_t used_at; /* LRU clock */
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32) % n;
}

/* host<i>.model.test in random case */
static void model_name(unsigned i, char *out, size_t len)
{
	snprintf(out, len, "host%u.model.test", i);
	for (char *p = out; *p; p++)
		if (*p >= 'a' && *p <= 'z' && rnd(2))
			*p = (char)(*p - 32);
}

static void test_model(void)
{
	struct dns_cache *c = dns_cache_new(M_SIZE, 0, M_MAX_TTL);
	struct ref ref[M_KEYS];
	struct dns_cache_stats want = { 0 };
	uint64_t clock = 0;
	uint32_t serial = 0;
	double now = 0;
	unsigned bad = 0;

	memset(ref, 0, sizeof(ref));
	for (int op = 0; op < 10000 && bad < 5; op++) {
		unsigned k = rnd(M_KEYS), name = k / 2;
		uint16_t qtype = k % 2 ? DNS_T_AAAA : DNS_T_A;
		struct ref *r = &ref[k];
		char text[64];

		now += rnd(3000) / 1000.0;
		model_name(name, text, sizeof(text));
		if (rnd(2)) {
			struct spec s = { .qname = text, .qtype = qtype, .n = 1 + rnd(3),
					  .ttl = rnd(60), .serial = ++serial };
			bool servfail = rnd(10) == 0, cacheable;
			uint32_t t = s.ttl > M_MAX_TTL ? M_MAX_TTL : s.ttl;

			if (servfail)
				s.rcode = DNS_R_SERVFAIL;
			cacheable = !servfail && t > 0;
			if (put(c, &s, now) != (int)cacheable) {
				printf("  op %d: put %s %u ttl %u: wrong result\n", op, text, qtype, s.ttl);
				bad++;
			}
			if (!cacheable)
				continue;
			if (!r->used) {
				unsigned n = 0, lru = 0;

				for (unsigned i = 0; i < M_KEYS; i++)
					if (ref[i].used) {
						if (!n || ref[i].used_at < ref[lru].used_at)
							lru = i;
						n++;
					}
				if (n == M_SIZE) {
					ref[lru].used = false;
					want.evictions++;
					want.entries--;
				}
				want.entries++;
			}
			*r = (struct ref){ .used = true, .stored = now, .ttl = t, .serial = serial,
					   .used_at = clock++ };
			want.inserts++;
		} else {
			uint16_t id = (uint16_t)rnd(65536);
			struct dns_question q = question(text, qtype);
			struct ans out;
			bool expect = r->used && now - r->stored < r->ttl;
			int hit;

			if (r->used && !expect) {
				r->used = false;
				want.expired++;
				want.entries--;
			}
			hit = get(c, text, qtype, id, now, &out, NULL);
			if (hit != (int)expect) {
				printf("  op %d: get %s %u: %d, want %d\n", op, text, qtype, hit, expect);
				bad++;
				continue;
			}
			if (!hit) {
				want.misses++;
				continue;
			}
			want.hits++;
			r->used_at = clock++;
			if (out.m.id != id || out.m.q.qtype != qtype ||
			    memcmp(out.m.q.name, q.name, q.name_len) != 0 ||
			    serial_of(&out, qtype, NULL) != r->serial ||
			    !all_ttls(&out, r->ttl - (uint32_t)(now - r->stored))) {
				printf("  op %d: get %s %u: wrong answer\n", op, text, qtype);
				bad++;
			}
		}
	}
	CHECK(bad == 0);
	{
		const struct dns_cache_stats *st = dns_cache_stats(c);

		CHECK(st->hits == want.hits && st->misses == want.misses);
		CHECK(st->inserts == want.inserts && st->evictions == want.evictions);
		CHECK(st->expired == want.expired && st->entries == want.entries);
		/* the run exercised every path */
		CHECK(st->hits > 500 && st->misses > 500 && st->evictions > 100 && st->expired > 100);
	}
	dns_cache_free(c);
}

int main(void)
{
	RUN(test_qtype_in_key);
	RUN(test_case_variants);
	RUN(test_ttl_countdown);
	RUN(test_clamp);
	RUN(test_negative);
	RUN(test_not_cacheable);
	RUN(test_lru);
	RUN(test_disabled);
	RUN(test_prefetch);
	RUN(test_model);
	CHECK_EXIT();
}
