/* test_dns_answer.c -- unit tests for what the resolver builds without the network: the
 * domestic CIDR set (dns/cidrset.c, with the real CN list), domain suffix sets
 * (dns/names.c), answers fitted to the client (OPT kept only for EDNS clients, TC when
 * too big), error replies, hosts answers (A, AAAA, NODATA, PTR) and the upstream answer
 * check (dns/upstream.c). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/config.h"
#include "dns/answer.h"
#include "base/cidrset.h"
#include "dns/msg.h"
#include "dns/names.h"
#include "dns/upstream.h"
#include "tests/unit/check.h"
#include "tests/unit/dns_view.h"

static struct cidr mk(const char *s)
{
	struct cidr c;
	if (cidr_parse(s, &c) < 0)
		abort();
	return c;
}

static bool in(const struct cidrset *s, const char *ip)
{
	uint8_t a[16];
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fam, ip, a) != 1)
		abort();
	return cidrset_contains(s, fam, a);
}

static void test_cidrset_basic(void)
{
	struct cidr v[] = { mk("10.0.0.0/8"), mk("10.1.0.0/16"), mk("192.168.1.0/24"),
			    mk("192.168.2.0/24"), mk("1.2.3.4"), mk("fd00::/8"), mk("2001:db8::/32"),
			    mk("0.0.0.0/1") };
	struct cidrset *s = cidrset_new(v, 5);

	CHECK(s);
	CHECK(in(s, "10.255.255.255"));
	CHECK(in(s, "10.1.2.3"));
	CHECK(!in(s, "11.0.0.0"));
	CHECK(!in(s, "9.255.255.255"));
	CHECK(in(s, "192.168.1.0") && in(s, "192.168.2.255"));
	CHECK(!in(s, "192.168.3.0"));
	CHECK(in(s, "1.2.3.4") && !in(s, "1.2.3.5") && !in(s, "1.2.3.3"));
	CHECK(!in(s, "fd00::1"));
	CHECK(cidrset_ranges(s) == 3); /* 10/8 swallows 10.1/16; the two /24s merge */
	cidrset_free(s);

	s = cidrset_new(v + 5, 3);
	CHECK(in(s, "fd12:3456::1") && in(s, "2001:db8:ffff::1"));
	CHECK(!in(s, "fe00::") && !in(s, "2001:db9::"));
	CHECK(in(s, "127.255.255.255") && !in(s, "128.0.0.0"));
	cidrset_free(s);

	s = cidrset_new(NULL, 0);
	CHECK(s && !in(s, "1.1.1.1") && !in(s, "::1"));
	cidrset_free(s);
}

/* The real list: every network's first and last address is inside, and a linear scan
 * agrees with the set on random addresses. */
static void test_cidrset_cn_list(void)
{
	const char *dir = getenv("SNET_SHARED_DIR");
	char path[4096], line[128];
	struct cidr *v = NULL;
	size_t n = 0, cap = 0, bad = 0;
	struct cidrset *s;
	FILE *f;

	snprintf(path, sizeof(path), "%s/data/cn-ipv4-cidrs.txt", dir ? dir : "../shared");
	f = fopen(path, "r");
	if (!f) {
		printf("# %s not found; skipped\n", path);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n# ")] = 0;
		if (!line[0])
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			v = realloc(v, cap * sizeof(*v));
		}
		if (cidr_parse(line, &v[n]) == 0)
			n++;
	}
	fclose(f);
	CHECK(n > 8000);
	s = cidrset_new(v, n);
	CHECK(s);
	for (size_t i = 0; i < n; i++) {
		uint32_t a, m = v[i].prefix ? ~0u << (32 - v[i].prefix) : 0;
		uint8_t b[4];
		memcpy(&a, v[i].addr, 4);
		a = ntohl(a) | ~m;
		a = htonl(a);
		memcpy(b, &a, 4);
		if (!cidrset_contains(s, AF_INET, v[i].addr) || !cidrset_contains(s, AF_INET, b))
			bad++;
	}
	CHECK(bad == 0);
	srand(7);
	bad = 0;
	for (int k = 0; k < 20000; k++) {
		uint32_t a = (uint32_t)rand() << 16 ^ (uint32_t)rand();
		uint8_t b[4] = { (uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a };
		bool want = false;
		for (size_t i = 0; i < n && !want; i++) {
			uint32_t net, m = v[i].prefix ? ~0u << (32 - v[i].prefix) : 0;
			memcpy(&net, v[i].addr, 4);
			want = (a & m) == ntohl(net);
		}
		if (want != cidrset_contains(s, AF_INET, b))
			bad++;
	}
	CHECK(bad == 0);
	cidrset_free(s);
	free(v);
}

static bool names_has(const struct dns_names *s, const char *text)
{
	uint8_t w[DNS_NAME_MAX];
	size_t n;
	if (dns_name_from_text(text, w, &n) < 0)
		abort();
	return dns_names_match(s, w, n);
}

static void test_names_suffix(void)
{
	char *v[] = { "example.com", "Ads.Test.", "a.b.c.d" };
	struct str_list l = { v, 3 }, empty = { NULL, 0 };
	char err[128];
	struct dns_names *s = dns_names_new(&l, err, sizeof(err));

	CHECK(s);
	CHECK(names_has(s, "example.com"));
	CHECK(names_has(s, "www.EXAMPLE.com."));
	CHECK(names_has(s, "x.y.z.example.com"));
	CHECK(!names_has(s, "notexample.com"));
	CHECK(!names_has(s, "com"));
	CHECK(names_has(s, "ads.test") && names_has(s, "X.ADS.TEST"));
	CHECK(!names_has(s, "b.c.d") && names_has(s, "z.a.b.c.d"));
	CHECK(!names_has(s, "."));
	dns_names_free(s);
	s = dns_names_new(&empty, err, sizeof(err));
	CHECK(s && !names_has(s, "example.com"));
	dns_names_free(s);
}

/* A query for name/type, with EDNS of udp size `edns` (0: none), parsed into m. */
struct query {
	uint8_t b[512];
	size_t n;
	struct dns_msg m;
};

static void mkquery(struct query *q, const char *name, uint16_t type, uint16_t edns)
{
	struct dns_question qq = { .qtype = type, .qclass = DNS_C_IN };
	struct dns_edns e = { .present = true, .udp_size = edns };
	size_t n;
	char err[128];

	if (dns_name_from_text(name, qq.name, &n) < 0)
		abort();
	qq.name_len = (uint8_t)n;
	if (dns_write_query(0x1234, DNS_F_RD, &qq, edns ? &e : NULL, q->b, sizeof(q->b), &q->n, err,
			    sizeof(err)) < 0 ||
	    dns_msg_parse(&q->m, q->b, q->n, err, sizeof(err)) < 0)
		abort();
}

/* An answer to q with `count` A records and an OPT (when opt). */
static size_t mkanswer(const struct query *q, unsigned count, bool opt, uint8_t *out, size_t max)
{
	static uint8_t addrs[400][4];
	struct dns_rr rr[400];
	struct dns_edns e = { .present = true, .udp_size = 4096 };
	struct dns_reply r = { 0 };
	size_t len;
	char err[128];

	for (unsigned i = 0; i < count; i++) {
		addrs[i][0] = 198;
		addrs[i][1] = 18;
		addrs[i][2] = (uint8_t)(i >> 8);
		addrs[i][3] = (uint8_t)i;
		rr[i] = (struct dns_rr){ .name = q->m.q.name, .name_len = q->m.q.name_len,
					 .type = DNS_T_A, .rclass = DNS_C_IN, .ttl = 300,
					 .rdata = addrs[i], .rdlen = 4 };
	}
	r.id = q->m.id;
	r.flags = DNS_F_RD | DNS_F_RA;
	r.q = &q->m.q;
	r.rr[DNS_SEC_ANSWER] = rr;
	r.n[DNS_SEC_ANSWER] = count;
	r.edns = opt ? &e : NULL;
	if (dns_write_reply(&r, out, max, &len, err, sizeof(err)) < 0)
		abort();
	return len;
}

/* The answer in ans[len], parsed as it is where it arrives. */
static struct dns_msg parsed(const uint8_t *ans, size_t len)
{
	struct dns_msg m;
	char err[128];

	if (dns_msg_parse(&m, ans, len, err, sizeof(err)) < 0)
		abort();
	return m;
}

static void test_fit(void)
{
	struct query plain, edns;
	uint8_t ans[65535], out[65535];
	struct dns_msg m, a;
	size_t alen, olen;
	char err[128];

	mkquery(&plain, "www.example.com", DNS_T_A, 0);
	mkquery(&edns, "www.example.com", DNS_T_A, 1232);
	CHECK(dns_answer_max(&plain.m, false) == 512);
	CHECK(dns_answer_max(&edns.m, false) == 1232);
	CHECK(dns_answer_max(&plain.m, true) == 65535);

	/* Small, with OPT: an EDNS client gets it byte for byte. */
	alen = mkanswer(&edns, 3, true, ans, sizeof(ans));
	a = parsed(ans, alen);
	CHECK(dns_answer_fit(&a, &edns.m, 1232, out, &olen) == 0);
	CHECK(olen == alen && memcmp(out, ans, alen) == 0);
	/* A client without EDNS gets no OPT. */
	CHECK(dns_answer_fit(&a, &plain.m, 512, out, &olen) == 0);
	CHECK(dns_msg_parse(&m, out, olen, err, sizeof(err)) == 0);
	CHECK(!m.edns.present && m.ancount == 3 && m.arcount == 0);
	/* 100 records do not fit 512 or 1232: TC, no records, question kept. */
	alen = mkanswer(&edns, 100, true, ans, sizeof(ans));
	CHECK(alen > 1232);
	a = parsed(ans, alen);
	CHECK(dns_answer_fit(&a, &plain.m, 512, out, &olen) == 0);
	CHECK(dns_msg_parse(&m, out, olen, err, sizeof(err)) == 0);
	CHECK((m.flags & DNS_F_TC) && m.ancount == 0 && m.qdcount == 1 && !m.edns.present);
	CHECK(dns_key_eq(&m.q, &plain.m.q) && m.id == 0x1234);
	CHECK(dns_answer_fit(&a, &edns.m, 1232, out, &olen) == 0);
	CHECK(dns_msg_parse(&m, out, olen, err, sizeof(err)) == 0);
	CHECK((m.flags & DNS_F_TC) && m.ancount == 0 && m.edns.present);
	/* Over TCP it all comes. */
	CHECK(dns_answer_fit(&a, &plain.m, 65535, out, &olen) == 0);
	CHECK(dns_msg_parse(&m, out, olen, err, sizeof(err)) == 0);
	CHECK(!(m.flags & DNS_F_TC) && m.ancount == 100 && !m.edns.present);
	/* An extended rcode cannot be told to a client without EDNS. */
	a.edns.ext_rcode = 1;
	CHECK(dns_answer_fit(&a, &plain.m, 65535, out, &olen) < 0);
	CHECK(dns_answer_fit(&a, &edns.m, 65535, out, &olen) == 0);
	/* Garbage never gets that far: the parse where it arrives refuses it. */
	memset(ans, 0xff, 40);
	CHECK(dns_msg_parse(&m, ans, 40, err, sizeof(err)) < 0);
}

/* The cache's form (no OPT) and the parse-free fit of a hit. */
static void test_strip_and_fit_plain(void)
{
	struct query plain, edns;
	uint8_t ans[65535], stripped[65535], out[65535];
	struct dns_msg m, a, s, o;
	size_t alen, slen, olen;
	char err[128];

	mkquery(&plain, "www.example.com", DNS_T_A, 0);
	mkquery(&edns, "www.example.com", DNS_T_A, 1232);
	alen = mkanswer(&edns, 3, true, ans, sizeof(ans));
	a = parsed(ans, alen);
	CHECK(dns_answer_strip_opt(&a, stripped, &s) == 0);
	slen = s.len;
	CHECK(slen == alen - 11 && s.wire == stripped && dns_view_is_parse(&s));
	CHECK(!s.edns.present && s.ancount == 3 && s.arcount == 0);
	/* already without OPT: unchanged */
	CHECK(dns_answer_strip_opt(&s, out, &o) == 0 && o.len == slen &&
	      !memcmp(out, stripped, slen) && dns_view_is_parse(&o));
	/* a plain client gets it as it is; an EDNS client with our OPT appended */
	CHECK(dns_answer_fit_plain(&s, &plain.m, 512, out, &olen) == 0);
	CHECK(olen == slen && !memcmp(out, stripped, slen));
	CHECK(dns_answer_fit_plain(&s, &edns.m, 1232, out, &olen) == 0);
	CHECK(dns_msg_parse(&m, out, olen, err, sizeof(err)) == 0);
	CHECK(m.edns.present && m.edns.udp_size == DNS_OUR_UDP_SIZE && m.ancount == 3 &&
	      m.arcount == 1);
	/* too big: truncated as dns_answer_fit does */
	alen = mkanswer(&edns, 100, false, ans, sizeof(ans));
	a = parsed(ans, alen);
	CHECK(dns_answer_fit_plain(&a, &edns.m, 1232, out, &olen) == 0);
	CHECK(dns_msg_parse(&m, out, olen, err, sizeof(err)) == 0);
	CHECK((m.flags & DNS_F_TC) && m.ancount == 0 && m.edns.present);
	/* no question: not an answer to keep */
	a.qdcount = 0;
	CHECK(dns_answer_strip_opt(&a, out, &o) < 0);
}

static void test_error_replies(void)
{
	struct query q;
	uint8_t out[512];
	struct dns_msg m;
	size_t len;
	char err[128];
	uint8_t hdr[12] = { 0xab, 0xcd, 0x01, 0x00, 0, 5, 0, 0, 0, 0, 0, 0 };

	mkquery(&q, "Mixed.Case.Example", DNS_T_AAAA, 1232);
	CHECK(dns_answer_error(&q.m, NULL, DNS_R_SERVFAIL, out, sizeof(out), &len) == 0);
	CHECK(dns_msg_parse(&m, out, len, err, sizeof(err)) == 0);
	CHECK((m.flags & DNS_F_QR) && (m.flags & 0xF) == DNS_R_SERVFAIL && m.id == 0x1234);
	CHECK(m.q.name_len == q.m.q.name_len && !memcmp(m.q.name, q.m.q.name, m.q.name_len));
	CHECK(m.q.qtype == DNS_T_AAAA && m.edns.present);
	CHECK(dns_answer_error(NULL, hdr, DNS_R_FORMERR, out, sizeof(out), &len) == 0);
	CHECK(len == 12 && out[0] == 0xab && out[1] == 0xcd && (out[3] & 0xF) == DNS_R_FORMERR);
	CHECK(out[4] == 0 && out[5] == 0); /* no question */
}

static void test_hosts(void)
{
	struct cidr a[3] = { mk("198.18.9.9"), mk("fd00:9::9"), mk("198.18.9.10") };
	struct dns_host h[2] = { { "myhost.test", a, 3 }, { "v6only.test", a + 1, 1 } };
	struct config_dns cfg = { .hosts = h, .n_hosts = 2 };
	char err[128];
	struct dns_hosts *hs = dns_hosts_new(&cfg, err, sizeof(err));
	struct query q;
	uint8_t out[1232];
	struct dns_msg m;
	size_t len;

	CHECK(hs);
	mkquery(&q, "MyHost.Test", DNS_T_A, 0);
	CHECK(dns_hosts_answer(hs, &q.m, 512, out, &len) == 1);
	CHECK(dns_msg_parse(&m, out, len, err, sizeof(err)) == 0);
	CHECK(m.ancount == 2 && (m.flags & 0xF) == 0 && !memcmp(m.q.name + 1, "MyHost", 6));
	mkquery(&q, "myhost.test", DNS_T_AAAA, 1232);
	CHECK(dns_hosts_answer(hs, &q.m, 1232, out, &len) == 1);
	CHECK(dns_msg_parse(&m, out, len, err, sizeof(err)) == 0);
	CHECK(m.ancount == 1 && m.edns.present);
	mkquery(&q, "v6only.test", DNS_T_A, 0); /* NODATA, not NXDOMAIN, not upstream */
	CHECK(dns_hosts_answer(hs, &q.m, 512, out, &len) == 1);
	CHECK(dns_msg_parse(&m, out, len, err, sizeof(err)) == 0);
	CHECK(m.ancount == 0 && (m.flags & 0xF) == DNS_R_NOERROR);
	mkquery(&q, "10.9.18.198.in-addr.arpa", DNS_T_PTR, 0);
	CHECK(dns_hosts_answer(hs, &q.m, 512, out, &len) == 1);
	CHECK(dns_msg_parse(&m, out, len, err, sizeof(err)) == 0);
	CHECK(m.ancount == 1);
	mkquery(&q, "9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.0.0.0.0.0.d.f.ip6.arpa",
		DNS_T_PTR, 0);
	CHECK(dns_hosts_answer(hs, &q.m, 512, out, &len) == 1);
	mkquery(&q, "11.9.18.198.in-addr.arpa", DNS_T_PTR, 0);
	CHECK(dns_hosts_answer(hs, &q.m, 512, out, &len) == 0);
	mkquery(&q, "other.test", DNS_T_A, 0);
	CHECK(dns_hosts_answer(hs, &q.m, 512, out, &len) == 0);
	mkquery(&q, "myhost.test", DNS_T_MX, 0); /* a hosts name, other types: NODATA */
	CHECK(dns_hosts_answer(hs, &q.m, 512, out, &len) == 1);
	dns_hosts_free(hs);
}

static void test_upstream_match(void)
{
	struct query q, other;
	uint8_t ans[2048];
	struct dns_msg m;
	size_t alen;

	mkquery(&q, "www.example.com", DNS_T_A, 1232);
	mkquery(&other, "www.example.com", DNS_T_AAAA, 1232);
	alen = mkanswer(&q, 2, true, ans, sizeof(ans));
	CHECK(dns_up_match(ans, alen, 0x1234, &q.m.q, &m) == 0);
	CHECK(m.wire == ans && m.len == alen && m.ancount == 2 && dns_view_is_parse(&m));
	CHECK(dns_up_match(ans, alen, 0x1235, &q.m.q, &m) < 0); /* other ID */
	CHECK(dns_up_match(ans, alen, 0x1234, &other.m.q, &m) < 0); /* other qtype */
	CHECK(dns_up_match(q.b, q.n, 0x1234, &q.m.q, &m) < 0); /* a query, not an answer */
	CHECK(dns_up_match(ans, alen - 1, 0x1234, &q.m.q, &m) < 0); /* cut short */
	mkquery(&other, "WWW.Example.COM", DNS_T_A, 0);
	CHECK(dns_up_match(ans, alen, 0x1234, &other.m.q, &m) == 0); /* case does not matter */
}

int main(void)
{
	RUN(test_cidrset_basic);
	RUN(test_cidrset_cn_list);
	RUN(test_names_suffix);
	RUN(test_fit);
	RUN(test_strip_and_fit_plain);
	RUN(test_error_replies);
	RUN(test_hosts);
	RUN(test_upstream_match);
	CHECK_EXIT();
}
