/* test_dns_msg.c -- unit tests for the DNS message codec (dns/msg.c): parsing real-shaped
 * replies, compression pointers (valid, forward, loops, out of bounds), name and label limits,
 * truncation at every byte, unknown types kept verbatim, case, EDNS, the writer's compression
 * and TC policy, TTL countdown and negative TTL, query building, TCP framing at every split. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "dns/msg.h"
#include "tests/unit/check.h"

/* A message under construction. */
struct mb {
	uint8_t b[16384];
	size_t n;
};

static void mb_raw(struct mb *m, const void *p, size_t n)
{
	memcpy(m->b + m->n, p, n);
	m->n += n;
}
static void mb_u8(struct mb *m, unsigned v) { m->b[m->n++] = (uint8_t)v; }
static void mb_u16(struct mb *m, unsigned v)
{
	mb_u8(m, v >> 8);
	mb_u8(m, v);
}
static void mb_u32(struct mb *m, uint32_t v)
{
	mb_u16(m, v >> 16);
	mb_u16(m, v & 0xFFFF);
}
static void mb_ptr(struct mb *m, size_t off) { mb_u16(m, 0xC000 | (unsigned)off); }
/* Appends a text name in wire form (no compression); returns where it starts. */
static size_t mb_name(struct mb *m, const char *text)
{
	size_t at = m->n, len;

	if (dns_name_from_text(text, m->b + m->n, &len) < 0)
		abort();
	m->n += len;
	return at;
}
static void mb_header(struct mb *m, unsigned id, unsigned flags, unsigned qd, unsigned an,
		      unsigned ns, unsigned ar)
{
	m->n = 0;
	mb_u16(m, id);
	mb_u16(m, flags);
	mb_u16(m, qd);
	mb_u16(m, an);
	mb_u16(m, ns);
	mb_u16(m, ar);
}
/* type, class, ttl, rdlength after an owner name the caller wrote */
static void mb_rrhead(struct mb *m, unsigned type, unsigned cls, uint32_t ttl, unsigned rdlen)
{
	mb_u16(m, type);
	mb_u16(m, cls);
	mb_u32(m, ttl);
	mb_u16(m, rdlen);
}
static void mb_opt(struct mb *m, unsigned size, uint32_t ttl)
{
	mb_u8(m, 0);
	mb_rrhead(m, DNS_T_OPT, size, ttl, 0);
}

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	unsigned v;

	while (*s) {
		if (*s == ' ' || *s == '\n') {
			s++;
			continue;
		}
		if (sscanf(s, "%2x", &v) != 1)
			abort();
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static bool name_is(const uint8_t *name, size_t len, const char *text)
{
	uint8_t w[DNS_NAME_MAX];
	size_t n;

	return dns_name_from_text(text, w, &n) == 0 && n == len && memcmp(w, name, n) == 0;
}

/* Parse must fail and the reason must contain `why`. */
static bool rejects(const uint8_t *p, size_t n, const char *why)
{
	struct dns_msg m;
	char err[256] = "";

	if (dns_msg_parse(&m, p, n, err, sizeof(err)) == 0)
		return false;
	if (!strstr(err, why))
		printf("  reason: %s\n", err);
	return strstr(err, why) != NULL;
}

/* www.github.com A, as a recursive server answers it: a CNAME pointing into the question,
 * the A record's owner pointing into the CNAME's target, an OPT for 1232 bytes. */
static const char github_hex[] =
	"1234 8180 0001 0002 0000 0001"
	"03777777 06676974687562 03636f6d 00 0001 0001"
	"c00c 0005 0001 00000e10 0002 c010"
	"c010 0001 0001 0000003c 0004 8c527003"
	"00 0029 04d0 00000000 0000";

static void test_parse_real(void)
{
	uint8_t w[512];
	size_t n = unhex(github_hex, w);
	struct dns_msg m;
	struct dns_rr_iter it;
	struct dns_rr rr;
	char err[256];
	uint32_t ttl = 0;

	CHECK(dns_msg_parse(&m, w, n, err, sizeof(err)) == 0);
	CHECK(m.id == 0x1234 && (m.flags & DNS_F_QR) && (m.flags & DNS_F_RD) && (m.flags & DNS_F_RA));
	CHECK(dns_flags_opcode(m.flags) == 0 && dns_msg_rcode(&m) == DNS_R_NOERROR);
	CHECK(m.qdcount == 1 && m.ancount == 2 && m.nscount == 0 && m.arcount == 1);
	CHECK(name_is(m.q.name, m.q.name_len, "www.github.com"));
	CHECK(m.q.qtype == DNS_T_A && m.q.qclass == DNS_C_IN);
	CHECK(m.edns.present && m.edns.udp_size == 1232 && !m.edns.do_bit && m.edns.version == 0);
	dns_rr_iter_init(&it, &m);
	CHECK(dns_rr_next(&it, &rr));
	CHECK(rr.section == DNS_SEC_ANSWER && rr.type == DNS_T_CNAME && rr.ttl == 3600);
	CHECK(name_is(rr.name, rr.name_len, "www.github.com"));
	CHECK(name_is(rr.rdata, rr.rdlen, "github.com")); /* decompressed */
	CHECK(dns_rr_next(&it, &rr));
	CHECK(rr.type == DNS_T_A && rr.ttl == 60 && rr.rdlen == 4 && rr.rdata[0] == 0x8c);
	CHECK(name_is(rr.name, rr.name_len, "github.com"));
	CHECK(dns_rr_next(&it, &rr));
	CHECK(rr.section == DNS_SEC_ADDITIONAL && rr.type == DNS_T_OPT && rr.name_len == 1);
	CHECK(!dns_rr_next(&it, &rr));
	CHECK(dns_msg_min_ttl(&m, &ttl) == 0 && ttl == 60);
	CHECK(dns_msg_negative_ttl(&m, &ttl) == -1);
}

static void test_pointers(void)
{
	struct mb m;
	size_t q, a;
	struct dns_msg msg;
	struct dns_rr_iter it;
	struct dns_rr rr;
	char err[256];

	/* valid chain: b -> a -> question, each hop backwards */
	mb_header(&m, 1, 0x8180, 1, 2, 0, 0);
	q = mb_name(&m, "example.org");
	mb_u16(&m, 1), mb_u16(&m, 1);
	a = m.n;
	mb_u8(&m, 1), mb_u8(&m, 'a'), mb_ptr(&m, q);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 0x7f000001);
	mb_u8(&m, 1), mb_u8(&m, 'b'), mb_ptr(&m, a);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 0x7f000002);
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);
	dns_rr_iter_init(&it, &msg);
	CHECK(dns_rr_next(&it, &rr) && name_is(rr.name, rr.name_len, "a.example.org"));
	CHECK(dns_rr_next(&it, &rr) && name_is(rr.name, rr.name_len, "b.a.example.org"));

	/* forward: the answer's owner points at the next RR */
	mb_header(&m, 1, 0x8180, 1, 2, 0, 0);
	q = mb_name(&m, "example.org");
	mb_u16(&m, 1), mb_u16(&m, 1);
	mb_ptr(&m, m.n + 16);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 1);
	mb_ptr(&m, q);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 2);
	CHECK(rejects(m.b, m.n, "answer RR 0 at offset 29: compression pointer does not point backwards"));

	/* self-loop: a pointer to itself */
	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_name(&m, "example.org");
	mb_u16(&m, 1), mb_u16(&m, 1);
	mb_ptr(&m, m.n);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 1);
	CHECK(rejects(m.b, m.n, "does not point backwards"));

	/* a label then a pointer back to the label: a loop that stays inside the name */
	mb_header(&m, 1, 0x8180, 1, 1, 0, 0);
	mb_name(&m, "example.org");
	mb_u16(&m, 1), mb_u16(&m, 1);
	a = m.n;
	mb_u8(&m, 1), mb_u8(&m, 'x'), mb_ptr(&m, a);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 1);
	CHECK(rejects(m.b, m.n, "does not point backwards"));

	/* mutual loop: RR 0's owner -> RR 1's owner -> RR 0's owner */
	mb_header(&m, 1, 0x8180, 0, 2, 0, 0);
	a = m.n;
	mb_u8(&m, 1), mb_u8(&m, 'x'), mb_ptr(&m, a + 18);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 1);
	CHECK(m.n == a + 18);
	mb_u8(&m, 1), mb_u8(&m, 'y'), mb_ptr(&m, a);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 1);
	CHECK(rejects(m.b, m.n, "answer RR 0 at offset 12: compression pointer does not point backwards"));

	/* backwards but into a TTL field that reads as a name (\1 x \0): aging the TTL would
	 * change the name, so only earlier names are targets */
	mb_header(&m, 1, 0x8180, 1, 2, 0, 0);
	q = mb_name(&m, "example.org");
	mb_u16(&m, 1), mb_u16(&m, 1);
	mb_ptr(&m, q);
	a = m.n + 4;
	mb_rrhead(&m, DNS_T_A, 1, 0x01780000, 4), mb_u32(&m, 1);
	mb_ptr(&m, a);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 2);
	CHECK(rejects(m.b, m.n, "answer RR 1 at offset 45: compression pointer to something other "
				"than an earlier name"));
	/* a pointer to a suffix of an earlier name is fine */
	m.b[45] = 0xC0, m.b[46] = (uint8_t)(q + 8);
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);

	/* out of bounds, into the header, cut in half */
	mb_header(&m, 1, 0x8180, 0, 1, 0, 0);
	mb_ptr(&m, 0x3FFF);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 1);
	CHECK(rejects(m.b, m.n, "does not point backwards"));
	mb_header(&m, 1, 0x8180, 0, 1, 0, 0);
	mb_u8(&m, 1), mb_u8(&m, 'x'), mb_ptr(&m, 4);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 1);
	CHECK(rejects(m.b, m.n, "into the header"));
	mb_header(&m, 1, 0x8180, 1, 0, 0, 0);
	mb_u8(&m, 0xC0);
	CHECK(rejects(m.b, m.n, "question: compression pointer runs past the end"));
	/* the question is first: any pointer in it is forward or into the header */
	mb_header(&m, 1, 0x8180, 1, 0, 0, 0);
	mb_ptr(&m, 12), mb_u16(&m, 1), mb_u16(&m, 1);
	CHECK(rejects(m.b, m.n, "question: compression pointer"));
}

static void test_name_limits(void)
{
	char label[64], text[300];
	uint8_t w[DNS_NAME_MAX];
	struct mb m;
	size_t q, n;
	struct dns_msg msg;
	char err[256];

	memset(label, 'a', 63);
	label[63] = '\0';
	/* 63.63.63.61 = 4*64 - 2 + 1 = 255 bytes: the longest name */
	snprintf(text, sizeof(text), "%s.%s.%s.%.61s", label, label, label, label);
	CHECK(dns_name_from_text(text, w, &n) == 0 && n == 255);
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_raw(&m, w, n), mb_u16(&m, 1), mb_u16(&m, 1);
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0 && msg.q.name_len == 255);
	/* one more byte: 256 */
	snprintf(text, sizeof(text), "%s.%s.%s.%.62s", label, label, label, label);
	CHECK(dns_name_from_text(text, w, &n) == -1);
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	for (int i = 0; i < 3; i++)
		mb_u8(&m, 63), mb_raw(&m, label, 63);
	mb_u8(&m, 62), mb_raw(&m, label, 62), mb_u8(&m, 0), mb_u16(&m, 1), mb_u16(&m, 1);
	CHECK(rejects(m.b, m.n, "question: name longer than 255 bytes"));
	/* too long only once decompressed: 64 in place + a pointer to 193 bytes */
	mb_header(&m, 1, 0, 1, 1, 0, 0);
	snprintf(text, sizeof(text), "%s.%s.%s", label, label, label);
	q = mb_name(&m, text);
	mb_u16(&m, 1), mb_u16(&m, 1);
	mb_u8(&m, 63), mb_raw(&m, label, 63), mb_ptr(&m, q);
	mb_rrhead(&m, DNS_T_A, 1, 10, 4), mb_u32(&m, 1);
	CHECK(rejects(m.b, m.n, "answer RR 0 at offset 209: name longer than 255 bytes"));
	/* label of 64 (and the 0x40/0x80 label types) */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_u8(&m, 64), mb_raw(&m, label, 63), mb_u8(&m, 'a'), mb_u8(&m, 0);
	mb_u16(&m, 1), mb_u16(&m, 1);
	CHECK(rejects(m.b, m.n, "length over 63"));
	memset(label, 'b', 63);
	snprintf(text, sizeof(text), "%s%s", label, "b");
	CHECK(dns_name_from_text(text, w, &n) == -1);
	CHECK(dns_name_from_text(label, w, &n) == 0 && n == 65);
}

static void test_name_text(void)
{
	uint8_t w[DNS_NAME_MAX];
	char t[DNS_NAME_TEXT_MAX];
	size_t n;

	CHECK(dns_name_from_text(".", w, &n) == 0 && n == 1 && w[0] == 0);
	CHECK(dns_name_to_text(w, n, t) == 0 && strcmp(t, ".") == 0);
	CHECK(dns_name_from_text("Example.COM.", w, &n) == 0 && n == 13);
	CHECK(memcmp(w, "\7Example\3COM", 13) == 0);
	CHECK(dns_name_to_text(w, n, t) == 0 && strcmp(t, "Example.COM.") == 0);
	CHECK(dns_name_from_text("a\\.b.c\\\\\\009", w, &n) == 0 && n == 9);
	CHECK(memcmp(w, "\3a.b\3c\\\t", 9) == 0);
	CHECK(dns_name_to_text(w, n, t) == 0 && strcmp(t, "a\\.b.c\\\\\\009.") == 0);
	CHECK(dns_name_from_text("", w, &n) == -1);
	CHECK(dns_name_from_text("a..b", w, &n) == -1);
	CHECK(dns_name_from_text(".a", w, &n) == -1);
	CHECK(dns_name_from_text("a\\", w, &n) == -1);
	CHECK(dns_name_from_text("a\\256", w, &n) == -1);
	CHECK(dns_name_to_text((const uint8_t *)"\3ab", 3, t) == -1);
	CHECK(dns_name_to_text((const uint8_t *)"\1a\0\0", 4, t) == -1);
}

static size_t build_nxdomain(struct mb *m, uint32_t soa_ttl, uint32_t minimum);

/* Parsing any prefix of a valid message fails cleanly (ASan watches the reads). */
static void test_truncated_everywhere(void)
{
	uint8_t w[512];
	size_t n = unhex(github_hex, w);
	struct mb nx;
	const uint8_t *msgs[2] = { w, nx.b };
	size_t lens[2] = { n, build_nxdomain(&nx, 900, 300) };
	char err[256];
	int ok = 1;

	for (int i = 0; i < 2; i++) {
		for (size_t cut = 0; cut <= lens[i]; cut++) {
			uint8_t *copy = malloc(cut ? cut : 1); /* exact size, so overreads trap */
			struct dns_msg m;
			int rc;

			memcpy(copy, msgs[i], cut);
			err[0] = '\0';
			rc = dns_msg_parse(&m, copy, cut, err, sizeof(err));
			if (cut < lens[i] ? (rc != -1 || !err[0]) : rc != 0)
				ok = 0;
			free(copy);
		}
	}
	CHECK(ok);
	CHECK(rejects(w, n - 1, "additional RR 0 at offset 62"));
	CHECK(rejects(w, 11, "shorter than the 12-byte header"));
}

static void test_garbage(void)
{
	uint8_t w[512];
	size_t n = unhex(github_hex, w);
	struct mb m;

	memcpy(m.b, w, n);
	m.b[n] = 0;
	CHECK(rejects(m.b, n + 1, "1 bytes after the last RR"));
	m.b[5] = 2; /* qdcount 2 */
	CHECK(rejects(m.b, n, "2 questions"));
	/* rdata longer than the fields of a CNAME, and shorter */
	mb_header(&m, 1, 0x8180, 0, 1, 0, 0);
	mb_name(&m, "a.b");
	mb_rrhead(&m, DNS_T_CNAME, 1, 5, 6), mb_name(&m, "c.d"), mb_u8(&m, 0);
	CHECK(rejects(m.b, m.n, "rdata longer than its fields"));
	mb_header(&m, 1, 0x8180, 0, 1, 0, 0);
	mb_name(&m, "a.b");
	mb_rrhead(&m, DNS_T_MX, 1, 5, 4), mb_u16(&m, 10), mb_name(&m, "c.d");
	CHECK(rejects(m.b, m.n, "rdata shorter than its fields"));
	mb_header(&m, 1, 0x8180, 0, 1, 0, 0);
	mb_name(&m, "a.b");
	mb_rrhead(&m, DNS_T_A, 1, 5, 5), mb_u32(&m, 1);
	CHECK(rejects(m.b, m.n, "rdata runs past the end"));
	mb_header(&m, 1, 0x8180, 0, 1, 0, 0);
	mb_name(&m, "a.b");
	mb_rrhead(&m, DNS_T_CNAME, 1, 5, 0);
	CHECK(rejects(m.b, m.n, "rdata shorter than its fields"));
	/* ...but an UPDATE deletes with empty rdata in class ANY/NONE (RFC 2136) */
	{
		struct dns_msg msg;
		char err[256];
		uint32_t ttl;

		mb_header(&m, 1, 0x2800, 0, 0, 2, 0);
		mb_name(&m, "a.b");
		mb_rrhead(&m, DNS_T_CNAME, 255, 0, 0);
		mb_ptr(&m, 12), mb_rrhead(&m, DNS_T_SOA, 254, 0, 0);
		CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);
		CHECK(dns_msg_negative_ttl(&msg, &ttl) == -1);
	}
}

/* qtype 65535 and unknown types: rdata stays verbatim, even when it looks like a pointer. */
static void test_unknown_types(void)
{
	static const uint8_t odd[] = { 0xC0, 0x0C, 0x01, 0x02, 0x03 };
	struct mb m;
	struct dns_msg msg, back;
	struct dns_rr_iter it;
	struct dns_rr rrs[4], rr;
	uint8_t names[4][DNS_NAME_MAX], out[512];
	char err[256];
	size_t q, n = 0, len;
	struct dns_reply r = { 0 };

	mb_header(&m, 0xBEEF, 0x8500, 1, 3, 0, 0);
	q = mb_name(&m, "odd.example");
	mb_u16(&m, 65535), mb_u16(&m, 1);
	mb_ptr(&m, q), mb_rrhead(&m, 65280, 1, 77, sizeof(odd)), mb_raw(&m, odd, sizeof(odd));
	mb_ptr(&m, q), mb_rrhead(&m, 65535, 255, 78, 0);
	mb_ptr(&m, q), mb_rrhead(&m, 99, 3, 79, sizeof(odd)), mb_raw(&m, odd, sizeof(odd));
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);
	CHECK(msg.q.qtype == 65535);
	dns_rr_iter_init(&it, &msg);
	while (n < 4 && dns_rr_next(&it, &rr)) {
		memcpy(names[n], rr.name, rr.name_len);
		rrs[n] = rr;
		rrs[n].name = names[n];
		n++;
	}
	CHECK(n == 3);
	CHECK(rrs[0].type == 65280 && rrs[0].rdlen == 5 && memcmp(rrs[0].rdata, odd, 5) == 0);
	CHECK(rrs[1].type == 65535 && rrs[1].rclass == 255 && rrs[1].rdlen == 0);
	r.id = msg.id;
	r.flags = msg.flags;
	r.q = &msg.q;
	r.rr[DNS_SEC_ANSWER] = rrs;
	r.n[DNS_SEC_ANSWER] = n;
	CHECK(dns_write_reply(&r, out, sizeof(out), &len, err, sizeof(err)) == 0);
	/* owner names compress to the question exactly as the input did: same bytes */
	CHECK(len == m.n && memcmp(out, m.b, len) == 0);
	CHECK(dns_msg_parse(&back, out, len, err, sizeof(err)) == 0 && back.ancount == 3);
}

static void test_case(void)
{
	struct mb m;
	struct dns_msg msg, back;
	struct dns_question lower_q;
	uint8_t out[512], key[DNS_KEY_MAX], key2[DNS_KEY_MAX];
	char err[256];
	size_t len;
	struct dns_reply r = { 0 };
	struct dns_rr a = { 0 };
	static const uint8_t ip[4] = { 198, 18, 0, 1 };

	mb_header(&m, 7, DNS_F_RD, 1, 0, 0, 0);
	mb_name(&m, "wWw.ExAmPlE.cOm");
	mb_u16(&m, DNS_T_A), mb_u16(&m, 1);
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);
	CHECK(memcmp(msg.q.name, "\3wWw\7ExAmPlE\3cOm", 17) == 0);
	lower_q = msg.q;
	CHECK(dns_name_from_text("www.example.com", lower_q.name, &len) == 0);
	CHECK(memcmp(msg.q.name, lower_q.name, len) != 0);
	CHECK(dns_name_eq(msg.q.name, msg.q.name_len, lower_q.name, len));
	CHECK(dns_key_eq(&msg.q, &lower_q));
	CHECK(dns_key_make(&msg.q, key) == len + 4 && dns_key_make(&lower_q, key2) == len + 4);
	CHECK(!memcmp(key, key2, len + 4) && !memcmp(key, lower_q.name, len));
	lower_q.qtype = DNS_T_AAAA;
	CHECK(!dns_key_eq(&msg.q, &lower_q));
	CHECK(dns_key_make(&lower_q, key2) == len + 4 && memcmp(key, key2, len + 4));
	CHECK(!dns_name_eq((const uint8_t *)"\1a\0", 3, (const uint8_t *)"\1b\0", 3));
	CHECK(!dns_name_eq((const uint8_t *)"\1a\0", 3, (const uint8_t *)"\2aa\0", 4));

	/* a reply from a cache holding the lowercase name: the question keeps the client's case,
	 * the answer keeps the cached case, so the owner only shares the root */
	a.name = lower_q.name;
	a.name_len = len;
	a.type = DNS_T_A;
	a.rclass = DNS_C_IN;
	a.ttl = 30;
	a.rdata = ip;
	a.rdlen = 4;
	r.id = msg.id;
	r.flags = DNS_F_RD | DNS_F_RA;
	r.q = &msg.q;
	r.rr[0] = &a;
	r.n[0] = 1;
	CHECK(dns_write_reply(&r, out, sizeof(out), &len, err, sizeof(err)) == 0);
	CHECK(len == 12 + 21 + 17 + 10 + 4);
	CHECK(memcmp(out + 12, m.b + 12, 21) == 0);
	CHECK(dns_msg_parse(&back, out, len, err, sizeof(err)) == 0);
	CHECK(back.id == 7 && back.flags == (DNS_F_QR | DNS_F_RD | DNS_F_RA) && back.ancount == 1);
	/* the same case compresses to the question: c0 0c */
	a.name = msg.q.name;
	CHECK(dns_write_reply(&r, out, sizeof(out), &len, err, sizeof(err)) == 0);
	CHECK(len == 12 + 21 + 2 + 10 + 4 && out[33] == 0xC0 && out[34] == 0x0C);
}

static void test_edns(void)
{
	struct mb m;
	struct dns_msg msg;
	char err[256];

	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_name(&m, "a.b"), mb_u16(&m, 1), mb_u16(&m, 1);
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);
	CHECK(!msg.edns.present && msg.edns.udp_size == 512);

	m.b[11] = 1;
	mb_opt(&m, 100, 0); /* below 512: treated as 512 */
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);
	CHECK(msg.edns.present && msg.edns.udp_size == 512);

	m.n -= 11;
	mb_opt(&m, 4096, 0x01008000); /* ext rcode 1 (BADVERS with rcode 0), DO */
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);
	CHECK(msg.edns.udp_size == 4096 && msg.edns.do_bit && msg.edns.ext_rcode == 1);
	CHECK(dns_msg_rcode(&msg) == DNS_R_BADVERS);

	/* an option: cookie (10) with 8 bytes; then one that overruns */
	m.n -= 11;
	mb_u8(&m, 0), mb_rrhead(&m, DNS_T_OPT, 1232, 0, 12), mb_u16(&m, 10), mb_u16(&m, 8);
	mb_u32(&m, 1), mb_u32(&m, 2);
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0 && msg.edns.udp_size == 1232);
	m.b[m.n - 9] = 9;
	CHECK(rejects(m.b, m.n, "malformed EDNS option"));

	mb_header(&m, 1, 0, 1, 0, 0, 2);
	mb_name(&m, "a.b"), mb_u16(&m, 1), mb_u16(&m, 1);
	mb_opt(&m, 1232, 0), mb_opt(&m, 1232, 0);
	CHECK(rejects(m.b, m.n, "additional RR 1 at offset 32: more than one OPT RR"));
	mb_header(&m, 1, 0, 1, 1, 0, 0);
	mb_name(&m, "a.b"), mb_u16(&m, 1), mb_u16(&m, 1);
	mb_opt(&m, 1232, 0);
	CHECK(rejects(m.b, m.n, "OPT RR outside the additional section"));
	mb_header(&m, 1, 0, 1, 0, 0, 1);
	mb_name(&m, "a.b"), mb_u16(&m, 1), mb_u16(&m, 1);
	mb_ptr(&m, 12), mb_rrhead(&m, DNS_T_OPT, 1232, 0, 0);
	CHECK(rejects(m.b, m.n, "OPT RR owner is not the root"));
}

/* 100 A records of 16 bytes each do not fit in 512: TC, empty sections. */
static void test_truncation(void)
{
	struct dns_question q;
	struct dns_rr rrs[100], add[10];
	uint8_t ips[100][4], out[4096];
	struct dns_edns edns = { .present = true, .udp_size = 1232, .do_bit = true };
	struct dns_reply r = { 0 };
	struct dns_msg msg;
	size_t len, qlen;
	char err[256];

	CHECK(dns_name_from_text("many.example", q.name, &qlen) == 0);
	q.name_len = (uint8_t)qlen;
	q.qtype = DNS_T_A;
	q.qclass = DNS_C_IN;
	for (int i = 0; i < 100; i++) {
		ips[i][0] = 198, ips[i][1] = 18, ips[i][2] = 1, ips[i][3] = (uint8_t)i;
		rrs[i] = (struct dns_rr){ q.name, qlen, DNS_T_A, DNS_C_IN, 300, ips[i], 4, 0 };
	}
	r.id = 0x4242;
	r.flags = DNS_F_RD | DNS_F_RA;
	r.q = &q;
	r.rr[0] = rrs;
	r.n[0] = 100;
	CHECK(dns_write_reply(&r, out, 512, &len, err, sizeof(err)) == 0);
	CHECK(len == 12 + qlen + 4);
	CHECK(dns_msg_parse(&msg, out, len, err, sizeof(err)) == 0);
	CHECK((msg.flags & DNS_F_TC) && msg.ancount == 0 && msg.arcount == 0 && msg.qdcount == 1);
	CHECK(msg.q.name_len == qlen && memcmp(msg.q.name, q.name, qlen) == 0);

	/* with EDNS the OPT is kept and its room is reserved */
	r.edns = &edns;
	CHECK(dns_write_reply(&r, out, 512, &len, err, sizeof(err)) == 0);
	CHECK(dns_msg_parse(&msg, out, len, err, sizeof(err)) == 0);
	CHECK((msg.flags & DNS_F_TC) && msg.ancount == 0 && msg.arcount == 1);
	CHECK(msg.edns.present && msg.edns.udp_size == 1232 && msg.edns.do_bit);

	/* enough room: everything, no TC; 30 answers fill 12+18+30*16+11 = 521 bytes */
	CHECK(dns_write_reply(&r, out, sizeof(out), &len, err, sizeof(err)) == 0);
	CHECK(len == 12 + qlen + 4 + 100 * 16 + 11);
	CHECK(dns_msg_parse(&msg, out, len, err, sizeof(err)) == 0);
	CHECK(!(msg.flags & DNS_F_TC) && msg.ancount == 100);
	r.n[0] = 30;
	CHECK(dns_write_reply(&r, out, 521, &len, err, sizeof(err)) == 0 && len == 521);
	CHECK(dns_msg_parse(&msg, out, len, err, sizeof(err)) == 0 && msg.ancount == 30);
	CHECK(dns_write_reply(&r, out, 520, &len, err, sizeof(err)) == 0 && len == 12 + qlen + 4 + 11);
	CHECK(dns_msg_parse(&msg, out, len, err, sizeof(err)) == 0 && (msg.flags & DNS_F_TC));

	/* additional that does not fit ends before its RRset, without TC: 25 answers (400
	 * bytes) + an RRset of 3 (fits) + an RRset of 7 (does not) */
	r.n[0] = 25;
	for (int i = 0; i < 10; i++)
		add[i] = (struct dns_rr){ q.name, qlen, i < 3 ? DNS_T_A : DNS_T_AAAA, DNS_C_IN,
					  60, ips[i], 4, 0 };
	r.rr[2] = add;
	r.n[2] = 10;
	CHECK(dns_write_reply(&r, out, 512, &len, err, sizeof(err)) == 0);
	CHECK(dns_msg_parse(&msg, out, len, err, sizeof(err)) == 0);
	CHECK(!(msg.flags & DNS_F_TC) && msg.ancount == 25 && msg.arcount == 3 + 1);
	CHECK(len == 12 + qlen + 4 + 28 * 16 + 11);

	/* every max from 0 up: an error below header + question + OPT, else a parseable message
	 * within max that is either complete or TC with empty sections */
	{
		int ok = 1;

		r.n[2] = 0;
		for (size_t max = 0; max <= 12 + qlen + 4 + 25 * 16 + 11 + 1; max++) {
			uint8_t *o = malloc(max ? max : 1);
			int rc = dns_write_reply(&r, o, max, &len, err, sizeof(err));

			if (max < 12 + qlen + 4 + 11) {
				ok &= rc == -1;
			} else {
				ok &= rc == 0 && len <= max;
				ok &= dns_msg_parse(&msg, o, len, err, sizeof(err)) == 0;
				ok &= (msg.flags & DNS_F_TC) ? msg.ancount == 0 : msg.ancount == 25;
				ok &= !(msg.flags & DNS_F_TC) == (max >= 12 + qlen + 4 + 25 * 16 + 11);
			}
			free(o);
		}
		CHECK(ok);
		r.n[2] = 10;
	}

	/* errors: too small for the question, rcode 16 without EDNS, a malformed owner */
	CHECK(dns_write_reply(&r, out, 12 + qlen + 4 + 10, &len, err, sizeof(err)) == -1);
	r.edns = NULL;
	r.rcode = DNS_R_BADVERS;
	CHECK(dns_write_reply(&r, out, 512, &len, err, sizeof(err)) == -1);
	r.rcode = DNS_R_NXDOMAIN;
	rrs[3].name_len = qlen - 1;
	CHECK(dns_write_reply(&r, out, 4096, &len, err, sizeof(err)) == -1);
	CHECK(strstr(err, "answer RR 3") != NULL);
	rrs[3].name_len = qlen;
	CHECK(dns_write_reply(&r, out, 4096, &len, err, sizeof(err)) == 0);
	CHECK(dns_msg_parse(&msg, out, len, err, sizeof(err)) == 0 && dns_msg_rcode(&msg) == 3);
}

/* NXDOMAIN with a compressed SOA in authority, as a root-ish server sends it. */
static size_t build_nxdomain(struct mb *m, uint32_t soa_ttl, uint32_t minimum)
{
	size_t q, ns;

	mb_header(m, 9, 0x8183, 1, 0, 1, 0);
	q = mb_name(m, "nope.example.com");
	mb_u16(m, 1), mb_u16(m, 1);
	mb_ptr(m, q + 5); /* example.com */
	mb_rrhead(m, DNS_T_SOA, 1, soa_ttl, 2 + 1 + 2 + 6 + 2 + 20);
	ns = m->n;
	mb_u8(m, 2), mb_raw(m, "ns", 2), mb_ptr(m, q + 5); /* ns.example.com */
	mb_u8(m, 5), mb_raw(m, "admin", 5), mb_ptr(m, ns); /* admin.ns.example.com */
	mb_u32(m, 2024010101), mb_u32(m, 7200), mb_u32(m, 3600), mb_u32(m, 1209600);
	mb_u32(m, minimum);
	return m->n;
}

static void test_negative_ttl(void)
{
	struct mb m;
	struct dns_msg msg;
	struct dns_rr_iter it;
	struct dns_rr rr;
	char err[256];
	uint32_t ttl = 0;
	uint8_t want[64];
	size_t n;

	build_nxdomain(&m, 900, 300);
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);
	CHECK(dns_msg_rcode(&msg) == DNS_R_NXDOMAIN);
	CHECK(dns_msg_negative_ttl(&msg, &ttl) == 0 && ttl == 300);
	dns_rr_iter_init(&it, &msg);
	CHECK(dns_rr_next(&it, &rr) && rr.section == DNS_SEC_AUTHORITY);
	CHECK(name_is(rr.name, rr.name_len, "example.com"));
	dns_name_from_text("ns.example.com", want, &n);
	dns_name_from_text("admin.ns.example.com", want + n, &n);
	CHECK(rr.rdlen == 16 + 22 + 20 && memcmp(rr.rdata, want, 38) == 0);
	build_nxdomain(&m, 100, 300);
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);
	CHECK(dns_msg_negative_ttl(&msg, &ttl) == 0 && ttl == 100);
	CHECK(dns_msg_min_ttl(&msg, &ttl) == 0 && ttl == 100);
	/* a TTL with the top bit set counts as 0 */
	build_nxdomain(&m, 0x80000000u, 300);
	CHECK(dns_msg_parse(&msg, m.b, m.n, err, sizeof(err)) == 0);
	CHECK(dns_msg_negative_ttl(&msg, &ttl) == 0 && ttl == 0);
}

static void test_age_ttls(void)
{
	uint8_t w[512], copy[512];
	size_t n = unhex(github_hex, w);
	struct dns_msg m, m2;
	struct dns_rr_iter it;
	struct dns_rr rr;
	char err[256];
	uint32_t ttl;

	w[n - 4] = 0x80; /* DO bit in the OPT: aging must leave it alone */
	CHECK(dns_msg_parse(&m, w, n, err, sizeof(err)) == 0 && m.edns.do_bit);
	memcpy(copy, w, n);
	dns_msg_age_ttls(&m, copy, 100);
	CHECK(memcmp(w, copy, n) != 0); /* the original is untouched... */
	CHECK(dns_msg_parse(&m2, copy, n, err, sizeof(err)) == 0 && m2.edns.do_bit);
	dns_rr_iter_init(&it, &m2);
	CHECK(dns_rr_next(&it, &rr) && rr.ttl == 3500);
	CHECK(dns_rr_next(&it, &rr) && rr.ttl == 0);
	CHECK(dns_msg_min_ttl(&m2, &ttl) == 0 && ttl == 0);
	dns_msg_age_ttls(&m2, copy, 3499);
	dns_rr_iter_init(&it, &m2);
	CHECK(dns_rr_next(&it, &rr) && rr.ttl == 1);
	dns_msg_age_ttls(&m, w, 0); /* ...and aging by 0 changes nothing */
	CHECK(dns_msg_parse(&m2, w, n, err, sizeof(err)) == 0);
	CHECK(dns_msg_min_ttl(&m2, &ttl) == 0 && ttl == 60);
}

static void test_query(void)
{
	struct dns_question q = { .qtype = DNS_T_AAAA, .qclass = DNS_C_IN };
	struct dns_edns edns = { .udp_size = 1232 };
	uint8_t out[512], want[512];
	size_t len, n, qlen;
	struct dns_msg m;
	char err[256];

	CHECK(dns_name_from_text("ipv6.Example.net", q.name, &qlen) == 0);
	q.name_len = (uint8_t)qlen;
	CHECK(dns_write_query(0xA5A5, DNS_F_RD | DNS_F_QR | 0xF, &q, &edns, out, sizeof(out), &len,
			      err, sizeof(err)) == 0);
	n = unhex("a5a5 0100 0001 0000 0000 0001"
		  "0469707636 074578616d706c65 036e6574 00 001c 0001"
		  "00 0029 04d0 00000000 0000", want);
	CHECK(len == n && memcmp(out, want, n) == 0);
	CHECK(dns_msg_parse(&m, out, len, err, sizeof(err)) == 0);
	CHECK(!(m.flags & DNS_F_QR) && (m.flags & DNS_F_RD) && m.edns.udp_size == 1232);
	CHECK(dns_write_query(1, DNS_F_RD, &q, NULL, out, sizeof(out), &len, err, sizeof(err)) == 0);
	CHECK(len == 12 + qlen + 4);
	CHECK(dns_write_query(1, DNS_F_RD, &q, NULL, out, 12 + qlen + 3, &len, err,
			      sizeof(err)) == -1);
}

/* Two framed messages, fed through a buf in pieces of every size. */
static void test_tcp_frame(void)
{
	uint8_t w[512], stream[2048];
	size_t n = unhex(github_hex, w), total = 0;
	struct mb nx;
	int ok = 1;

	build_nxdomain(&nx, 900, 300);
	stream[total++] = (uint8_t)(n >> 8), stream[total++] = (uint8_t)n;
	memcpy(stream + total, w, n), total += n;
	stream[total++] = (uint8_t)(nx.n >> 8), stream[total++] = (uint8_t)nx.n;
	memcpy(stream + total, nx.b, nx.n), total += nx.n;

	for (size_t piece = 1; piece <= total; piece++) {
		struct buf in = { 0 };
		size_t fed = 0, got = 0;

		while (fed < total || buf_used(&in)) {
			const uint8_t *msg;
			size_t mlen;
			int rc = dns_tcp_frame(in.data ? buf_head(&in) : stream, buf_used(&in), &msg,
					       &mlen);

			if (rc == DNS_OK) {
				struct dns_msg m;
				char err[256];

				if (dns_msg_parse(&m, msg, mlen, err, sizeof(err)) < 0)
					ok = 0;
				if (got == 0 && (mlen != n || memcmp(msg, w, n) != 0))
					ok = 0;
				if (got == 1 && (mlen != nx.n || memcmp(msg, nx.b, nx.n) != 0))
					ok = 0;
				got++;
				buf_consume(&in, 2 + mlen);
				continue;
			}
			if (rc != DNS_NEED_MORE || fed == total) {
				ok = 0;
				break;
			}
			size_t take = total - fed < piece ? total - fed : piece;
			buf_append(&in, stream + fed, take);
			fed += take;
		}
		if (got != 2)
			ok = 0;
		buf_free(&in);
	}
	CHECK(ok);
	{
		const uint8_t *msg = NULL;
		size_t mlen;

		CHECK(dns_tcp_frame((const uint8_t *)"\0\0", 2, &msg, &mlen) == DNS_ERROR);
		CHECK(dns_tcp_frame((const uint8_t *)"\0\13abc", 5, &msg, &mlen) == DNS_ERROR);
		CHECK(dns_tcp_frame((const uint8_t *)"\0", 1, &msg, &mlen) == DNS_NEED_MORE);
		CHECK(dns_tcp_frame(stream, n + 1, &msg, &mlen) == DNS_NEED_MORE);
		CHECK(dns_tcp_frame(stream, n + 2, &msg, &mlen) == DNS_OK && mlen == n);
	}
}

int main(void)
{
	RUN(test_parse_real);
	RUN(test_pointers);
	RUN(test_name_limits);
	RUN(test_name_text);
	RUN(test_truncated_everywhere);
	RUN(test_garbage);
	RUN(test_unknown_types);
	RUN(test_case);
	RUN(test_edns);
	RUN(test_truncation);
	RUN(test_negative_ttl);
	RUN(test_age_ttls);
	RUN(test_query);
	RUN(test_tcp_frame);
	CHECK_EXIT();
}
