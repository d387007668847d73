/* fuzz_dns.c -- libFuzzer target for the DNS message codec (dns/msg.c). The input is one message.
 * When it parses: every RR is copied out (names and rdata in exact-size heap blocks), a reply is
 * written from them with a max size picked by the message id (sometimes below what the header
 * and question need), and the reply must parse again with the same id, question bytes, rcode
 * and EDNS; without TC its answer and authority RRs must come back identical, with TC those
 * sections are empty. A copy has its TTLs aged and must still parse; the TTL helpers, the
 * name text conversions and the TCP framer run over the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(x)                          \
	do {                               \
		if (!(x))                  \
			__builtin_trap();  \
	} while (0)

static bool rr_same(const struct dns_rr *a, const struct dns_rr *b)
{
	return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0 &&
	       a->type == b->type && a->rclass == b->rclass && a->ttl == b->ttl &&
	       a->rdlen == b->rdlen && (!a->rdlen || memcmp(a->rdata, b->rdata, a->rdlen) == 0);
}

static void *dup_exact(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);

	if (!q)
		abort();
	if (n)
		memcpy(q, p, n);
	return q;
}

static void check_name_text(const uint8_t *name, size_t len)
{
	char text[DNS_NAME_TEXT_MAX];
	uint8_t back[DNS_NAME_MAX];
	size_t n;

	ASSERT(dns_name_to_text(name, len, text) == 0);
	ASSERT(dns_name_from_text(text, back, &n) == 0 && n == len && memcmp(back, name, n) == 0);
}

static void check_reply(const struct dns_msg *m, struct dns_rr *const rrs[3], const size_t n[3])
{
	struct dns_reply r = { 0 };
	struct dns_msg back;
	struct dns_rr_iter it;
	struct dns_rr rr;
	size_t max, len, need, idx[3] = { 0, 0, 0 };
	uint8_t *out;
	char err[256];
	int rc;

	max = m->id & 0x8000 ? m->id & 0x7F : DNS_UDP_MIN + (m->id & 0x3FF);
	need = DNS_HEADER_LEN + (m->qdcount ? m->q.name_len + 4u : 0) + (m->edns.present ? 11 : 0);
	r.id = m->id;
	r.flags = m->flags;
	r.rcode = dns_msg_rcode(m);
	r.q = m->qdcount ? &m->q : NULL;
	r.edns = m->edns.present ? &m->edns : NULL;
	for (int s = 0; s < 3; s++) {
		r.rr[s] = rrs[s];
		r.n[s] = n[s];
	}
	out = malloc(max ? max : 1); /* exact size: ASan sees any write past max */
	if (!out)
		abort();
	rc = dns_write_reply(&r, out, max, &len, err, sizeof(err));
	ASSERT(rc == (max < need ? -1 : 0));
	if (rc == 0) {
		ASSERT(len <= max);
		ASSERT(dns_msg_parse(&back, out, len, err, sizeof(err)) == 0);
		ASSERT(back.id == m->id && (back.flags & DNS_F_QR));
		ASSERT(back.qdcount == m->qdcount);
		ASSERT(!m->qdcount || (back.q.name_len == m->q.name_len &&
				       memcmp(back.q.name, m->q.name, m->q.name_len) == 0 &&
				       back.q.qtype == m->q.qtype && back.q.qclass == m->q.qclass));
		ASSERT(dns_msg_rcode(&back) == dns_msg_rcode(m));
		ASSERT(back.edns.present == m->edns.present && back.edns.udp_size == m->edns.udp_size &&
		       back.edns.do_bit == m->edns.do_bit);
		if (back.flags & DNS_F_TC) {
			ASSERT(back.ancount == 0 && back.nscount == 0);
			ASSERT(back.arcount == (m->edns.present ? 1 : 0));
		} else {
			ASSERT(back.ancount == n[0] && back.nscount == n[1]);
		}
		dns_rr_iter_init(&it, &back);
		while (dns_rr_next(&it, &rr)) {
			size_t s = rr.section;

			if (rr.type == DNS_T_OPT)
				continue;
			/* answers and authority come back in order; additional is a prefix */
			while (s == DNS_SEC_ADDITIONAL && idx[s] < n[s] && rrs[s][idx[s]].type == DNS_T_OPT)
				idx[s]++;
			ASSERT(idx[s] < n[s] && rr_same(&rr, &rrs[s][idx[s]]));
			idx[s]++;
		}
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_msg m, aged;
	struct dns_rr_iter it;
	struct dns_rr rr, *rrs[3] = { NULL, NULL, NULL };
	size_t n[3] = { 0, 0, 0 };
	uint8_t *copy, *framed;
	const uint8_t *fm;
	size_t fl;
	uint32_t ttl, ttl2;
	char err[256];
	uint8_t k1[DNS_KEY_MAX], k2[DNS_KEY_MAX];

	/* the text side: the input as a name in text form must round-trip when accepted */
	if (size < 1100) {
		char *text = malloc(size + 1);
		uint8_t w[DNS_NAME_MAX];
		size_t wl;

		if (!text)
			abort();
		if (size)
			memcpy(text, data, size);
		text[size] = '\0';
		if (dns_name_from_text(text, w, &wl) == 0)
			check_name_text(w, wl);
		free(text);
	}

	/* TCP framing of the input: complete at size + 2, incomplete before */
	framed = malloc(size + 2);
	if (!framed)
		abort();
	framed[0] = (uint8_t)(size >> 8);
	framed[1] = (uint8_t)size;
	if (size)
		memcpy(framed + 2, data, size);
	if (size >= DNS_HEADER_LEN && size <= DNS_MSG_MAX) {
		ASSERT(dns_tcp_frame(framed, size + 2, &fm, &fl) == DNS_OK && fm == framed + 2 &&
		       fl == size);
		ASSERT(dns_tcp_frame(framed, size + 1, &fm, &fl) == DNS_NEED_MORE);
	}
	free(framed);

	copy = dup_exact(data, size); /* exact size, so overreads trap */
	if (dns_msg_parse(&m, copy, size, err, sizeof(err)) < 0) {
		ASSERT(err[0]);
		free(copy);
		return 0;
	}
	ASSERT(m.edns.udp_size >= DNS_UDP_MIN);
	if (m.qdcount) {
		struct dns_question lower = m.q;

		check_name_text(m.q.name, m.q.name_len);
		for (size_t i = 0; i < lower.name_len; i++)
			if (lower.name[i] >= 'A' && lower.name[i] <= 'Z')
				lower.name[i] += 32;
		ASSERT(dns_key_eq(&m.q, &lower));
		ASSERT(dns_key_make(&m.q, k1) == dns_key_make(&lower, k2) &&
		       !memcmp(k1, k2, lower.name_len + 4u));
	}
	for (int s = 0; s < 3; s++) {
		size_t count = s == 0 ? m.ancount : s == 1 ? m.nscount : m.arcount;

		rrs[s] = calloc(count ? count : 1, sizeof(struct dns_rr));
		if (!rrs[s])
			abort();
	}
	dns_rr_iter_init(&it, &m);
	while (dns_rr_next(&it, &rr)) {
		struct dns_rr *c = &rrs[rr.section][n[rr.section]++];

		check_name_text(rr.name, rr.name_len);
		*c = rr;
		c->name = dup_exact(rr.name, rr.name_len);
		c->rdata = dup_exact(rr.rdata, rr.rdlen);
	}
	ASSERT(n[0] == m.ancount && n[1] == m.nscount && n[2] == m.arcount);

	check_reply(&m, rrs, n);

	/* aging: a copy still parses and no TTL grows */
	if (dns_msg_min_ttl(&m, &ttl) == 0) {
		uint8_t *old = dup_exact(data, size);

		dns_msg_age_ttls(&m, old, m.id);
		ASSERT(dns_msg_parse(&aged, old, size, err, sizeof(err)) == 0);
		ASSERT(dns_msg_min_ttl(&aged, &ttl2) == 0 && ttl2 <= ttl);
		ASSERT(ttl2 == (ttl > m.id ? ttl - m.id : 0));
		free(old);
	}
	if (dns_msg_negative_ttl(&m, &ttl) == 0)
		ASSERT(ttl <= 0x7FFFFFFF);

	for (int s = 0; s < 3; s++) {
		for (size_t i = 0; i < n[s]; i++) {
			free((void *)rrs[s][i].name);
			free((void *)rrs[s][i].rdata);
		}
		free(rrs[s]);
	}
	free(copy);
	return 0;
}
