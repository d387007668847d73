/* answer.c -- replies as the client gets them (see answer.h). */
#include "dns/answer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/config.h"

size_t dns_answer_max(const struct dns_msg *q, bool tcp)
{
	size_t n;

	if (tcp)
		return DNS_MSG_MAX;
	n = q->edns.present ? q->edns.udp_size : DNS_UDP_MIN;
	if (n > DNS_MSG_MAX)
		n = DNS_MSG_MAX;
	return n < DNS_UDP_MIN ? DNS_UDP_MIN : n;
}

static const struct dns_edns *our_edns(const struct dns_msg *q, struct dns_edns *e)
{
	if (!q->edns.present)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->present = true;
	e->udp_size = DNS_OUR_UDP_SIZE;
	e->do_bit = q->edns.do_bit;
	return e;
}

/* Whether the message's OPT RR, if any, is its last RR (then it can simply be cut off). */
static bool opt_last(const struct dns_msg *m, bool *has_opt, size_t *opt_off)
{
	struct dns_rr_iter it;
	struct dns_rr rr;
	size_t start = m->rr_off;

	*has_opt = false;
	dns_rr_iter_init(&it, m);
	while (start = it.off, dns_rr_next(&it, &rr)) {
		if (*has_opt)
			return false; /* something follows the OPT */
		if (rr.type == DNS_T_OPT) {
			*has_opt = true;
			*opt_off = start;
		}
	}
	return true;
}

/* Writes m's records again (OPT dropped) with our OPT for q's client, into max bytes. */
static int rebuild(const struct dns_msg *m, const struct dns_msg *q, size_t max, uint8_t *out,
		   size_t *outlen)
{
	struct dns_rr *rrs = NULL, *sec[3];
	struct dns_rr_iter it;
	struct dns_rr rr;
	struct dns_reply r;
	struct dns_edns e;
	uint8_t *arena = NULL;
	size_t total = 0, count = 0, used = 0, n[3] = { 0, 0, 0 };
	char err[128];
	int rc = -1;

	dns_rr_iter_init(&it, m);
	while (dns_rr_next(&it, &rr)) {
		total += rr.name_len + rr.rdlen;
		count++;
	}
	rrs = calloc(count ? count : 1, sizeof(*rrs));
	arena = malloc(total ? total : 1);
	if (!rrs || !arena)
		goto out;
	/* Sections come in order, so each section's records are contiguous. */
	dns_rr_iter_init(&it, m);
	count = 0;
	while (dns_rr_next(&it, &rr)) {
		if (rr.type == DNS_T_OPT)
			continue;
		memcpy(arena + used, rr.name, rr.name_len);
		rr.name = arena + used;
		used += rr.name_len;
		memcpy(arena + used, rr.rdata, rr.rdlen);
		rr.rdata = arena + used;
		used += rr.rdlen;
		rrs[count++] = rr;
		n[rr.section]++;
	}
	sec[0] = rrs;
	sec[1] = rrs + n[0];
	sec[2] = rrs + n[0] + n[1];
	memset(&r, 0, sizeof(r));
	r.id = m->id;
	r.flags = m->flags;
	r.rcode = m->flags & 0xF;
	r.q = &m->q;
	for (int i = 0; i < 3; i++) {
		r.rr[i] = sec[i];
		r.n[i] = n[i];
	}
	r.edns = our_edns(q, &e);
	rc = dns_write_reply(&r, out, max, outlen, err, sizeof(err));
out:
	free(rrs);
	free(arena);
	return rc;
}

int dns_answer_fit(const struct dns_msg *ans, const struct dns_msg *q, size_t max, uint8_t *out,
		   size_t *outlen)
{
	bool has_opt;
	size_t opt_off = 0;

	if (ans->qdcount != 1)
		return -1;
	if (dns_msg_rcode(ans) > 15 && !q->edns.present)
		return -1; /* an extended rcode cannot be told to this client */
	if (opt_last(ans, &has_opt, &opt_off)) {
		size_t keep = has_opt && !q->edns.present ? opt_off : ans->len;
		if (keep <= max) {
			memcpy(out, ans->wire, keep);
			if (keep < ans->len) { /* the OPT, the last additional RR, is cut off */
				out[10] = (uint8_t)((ans->arcount - 1) >> 8);
				out[11] = (uint8_t)(ans->arcount - 1);
			}
			*outlen = keep;
			return 0;
		}
	}
	return rebuild(ans, q, max, out, outlen);
}

int dns_answer_fit_plain(const struct dns_msg *ans, const struct dns_msg *q, size_t max,
			 uint8_t *out, size_t *outlen)
{
	size_t len = ans->len, need = len + (q->edns.present ? 11 : 0);
	unsigned ar;

	if (need > max || (q->edns.present && ans->arcount == 0xFFFF))
		return dns_answer_fit(ans, q, max, out, outlen);
	memcpy(out, ans->wire, len);
	if (q->edns.present) {
		uint8_t *o = out + len;
		ar = (unsigned)ans->arcount + 1;
		out[10] = (uint8_t)(ar >> 8);
		out[11] = (uint8_t)ar;
		/* root owner, TYPE OPT, CLASS = our UDP size, TTL = ext rcode 0, version 0,
		 * DO as the client asked, no options */
		o[0] = 0;
		o[1] = 0;
		o[2] = DNS_T_OPT;
		o[3] = (uint8_t)(DNS_OUR_UDP_SIZE >> 8);
		o[4] = (uint8_t)DNS_OUR_UDP_SIZE;
		o[5] = 0;
		o[6] = 0;
		o[7] = q->edns.do_bit ? 0x80 : 0;
		o[8] = 0;
		o[9] = 0;
		o[10] = 0;
	}
	*outlen = need;
	return 0;
}

int dns_answer_strip_opt(const struct dns_msg *ans, uint8_t *out, struct dns_msg *plain)
{
	struct dns_msg noedns;
	bool has_opt;
	size_t opt_off = 0, len;
	char err[128];

	if (ans->qdcount != 1)
		return -1;
	if (opt_last(ans, &has_opt, &opt_off)) {
		size_t keep = has_opt ? opt_off : ans->len;
		memcpy(out, ans->wire, keep);
		*plain = *ans;
		plain->wire = out;
		plain->len = keep;
		if (has_opt) {
			out[10] = (uint8_t)((ans->arcount - 1) >> 8);
			out[11] = (uint8_t)(ans->arcount - 1);
			plain->arcount--;
			memset(&plain->edns, 0, sizeof(plain->edns));
			plain->edns.udp_size = DNS_UDP_MIN; /* as dns_msg_parse says "no OPT" */
		}
		return 0;
	}
	/* Records after the OPT (rare): the message is written anew, and that new message is
	 * read by the parser, the one way to get its view. */
	memset(&noedns, 0, sizeof(noedns));
	if (rebuild(ans, &noedns, DNS_MSG_MAX, out, &len) < 0)
		return -1;
	return dns_msg_parse(plain, out, len, err, sizeof(err));
}

int dns_answer_error(const struct dns_msg *q, const uint8_t *hdr, unsigned rcode, uint8_t *out,
		     size_t max, size_t *outlen)
{
	struct dns_reply r;
	struct dns_edns e;
	char err[128];

	memset(&r, 0, sizeof(r));
	if (q) {
		r.id = q->id;
		r.flags = (uint16_t)(q->flags & (0x7800 | DNS_F_RD | DNS_F_CD)) | DNS_F_RA;
		r.q = q->qdcount == 1 ? &q->q : NULL;
		r.edns = our_edns(q, &e);
	} else {
		r.id = (uint16_t)(hdr[0] << 8 | hdr[1]);
		r.flags = (uint16_t)((hdr[2] << 8 | hdr[3]) & (0x7800 | DNS_F_RD));
	}
	r.rcode = rcode;
	if (rcode > 15 && !r.edns)
		return -1;
	return dns_write_reply(&r, out, max, outlen, err, sizeof(err));
}

int dns_answer_addr(const struct dns_msg *q, uint16_t type, const uint8_t *addr, uint32_t ttl,
		    size_t max, uint8_t *out, size_t *outlen)
{
	struct dns_rr rr = { .name = q->q.name, .name_len = q->q.name_len, .type = type,
			     .rclass = DNS_C_IN, .ttl = ttl, .rdata = addr,
			     .rdlen = type == DNS_T_A ? 4 : 16 };
	struct dns_reply r;
	struct dns_edns e;
	char err[128];

	memset(&r, 0, sizeof(r));
	r.id = q->id;
	r.flags = (uint16_t)(q->flags & (DNS_F_RD | DNS_F_CD)) | DNS_F_RA;
	r.rcode = DNS_R_NOERROR;
	r.q = &q->q;
	r.rr[DNS_SEC_ANSWER] = &rr;
	r.n[DNS_SEC_ANSWER] = addr ? 1 : 0;
	r.edns = our_edns(q, &e);
	return dns_write_reply(&r, out, max, outlen, err, sizeof(err));
}

/* ---- hosts -------------------------------------------------------------- */

struct host_addr {
	int family;
	uint8_t addr[16];
};

struct host {
	uint8_t name[DNS_NAME_MAX];
	uint8_t name_len;
	struct host_addr *a;
	size_t n;
};

struct dns_hosts {
	struct host *v;
	size_t n;
};

struct dns_hosts *dns_hosts_new(const struct config_dns *cfg, char *err, size_t errlen)
{
	struct dns_hosts *h = calloc(1, sizeof(*h));

	if (!h || !(h->v = calloc(cfg->n_hosts ? cfg->n_hosts : 1, sizeof(*h->v))))
		goto oom;
	for (size_t i = 0; i < cfg->n_hosts; i++) {
		const struct dns_host *c = &cfg->hosts[i];
		struct host *e = &h->v[h->n];
		size_t len;

		if (dns_name_from_text(c->name, e->name, &len) < 0) {
			snprintf(err, errlen, "dns.hosts: invalid name '%s'", c->name);
			dns_hosts_free(h);
			return NULL;
		}
		e->name_len = (uint8_t)len;
		h->n++;
		e->a = calloc(c->n ? c->n : 1, sizeof(*e->a));
		if (!e->a)
			goto oom;
		for (size_t k = 0; k < c->n; k++) {
			e->a[k].family = c->addrs[k].family;
			memcpy(e->a[k].addr, c->addrs[k].addr, 16);
		}
		e->n = c->n;
	}
	return h;
oom:
	dns_hosts_free(h);
	snprintf(err, errlen, "dns: out of memory");
	return NULL;
}

void dns_hosts_free(struct dns_hosts *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].a);
	free(h->v);
	free(h);
}

/* The reverse name (in-addr.arpa / ip6.arpa) of an address, wire form. */
static void reverse_name(const struct host_addr *a, uint8_t *out, size_t *len)
{
	char text[160];
	size_t n = 0;

	if (a->family == AF_INET) {
		snprintf(text, sizeof(text), "%u.%u.%u.%u.in-addr.arpa", a->addr[3], a->addr[2],
			 a->addr[1], a->addr[0]);
	} else {
		static const char hex[] = "0123456789abcdef";
		for (int i = 15; i >= 0; i--) {
			text[n++] = hex[a->addr[i] & 0xF];
			text[n++] = '.';
			text[n++] = hex[a->addr[i] >> 4];
			text[n++] = '.';
		}
		snprintf(text + n, sizeof(text) - n, "ip6.arpa");
	}
	if (dns_name_from_text(text, out, len) < 0)
		*len = 0;
}

int dns_hosts_answer(const struct dns_hosts *h, const struct dns_msg *q, size_t max,
		     uint8_t *out, size_t *outlen)
{
	struct dns_rr rrs[64];
	struct dns_reply r;
	struct dns_edns e;
	size_t n = 0;
	bool known = false;
	char err[128];

	if (!h || !h->n || q->q.qclass != DNS_C_IN)
		return 0;
	if (q->q.qtype == DNS_T_PTR) {
		for (size_t i = 0; i < h->n && !known; i++) {
			for (size_t k = 0; k < h->v[i].n; k++) {
				uint8_t rev[DNS_NAME_MAX];
				size_t len;
				reverse_name(&h->v[i].a[k], rev, &len);
				if (len && dns_name_eq(rev, len, q->q.name, q->q.name_len)) {
					rrs[n++] = (struct dns_rr){ .name = q->q.name,
								    .name_len = q->q.name_len,
								    .type = DNS_T_PTR,
								    .rclass = DNS_C_IN,
								    .ttl = DNS_LOCAL_TTL,
								    .rdata = h->v[i].name,
								    .rdlen = h->v[i].name_len };
					known = true;
					break;
				}
			}
		}
	} else {
		for (size_t i = 0; i < h->n; i++) {
			const struct host *e = &h->v[i];
			if (!dns_name_eq(e->name, e->name_len, q->q.name, q->q.name_len))
				continue;
			known = true;
			for (size_t k = 0; k < e->n && n < 64; k++) {
				bool v4 = e->a[k].family == AF_INET;
				if ((q->q.qtype == DNS_T_A && v4) || (q->q.qtype == DNS_T_AAAA && !v4))
					rrs[n++] = (struct dns_rr){ .name = q->q.name,
								    .name_len = q->q.name_len,
								    .type = q->q.qtype,
								    .rclass = DNS_C_IN,
								    .ttl = DNS_LOCAL_TTL,
								    .rdata = e->a[k].addr,
								    .rdlen = v4 ? 4 : 16 };
			}
			break;
		}
	}
	if (!known)
		return 0;
	memset(&r, 0, sizeof(r));
	r.id = q->id;
	r.flags = (uint16_t)(q->flags & (DNS_F_RD | DNS_F_CD)) | DNS_F_RA | DNS_F_AA;
	r.rcode = DNS_R_NOERROR;
	r.q = &q->q;
	r.rr[DNS_SEC_ANSWER] = rrs;
	r.n[DNS_SEC_ANSWER] = n;
	r.edns = our_edns(q, &e);
	return dns_write_reply(&r, out, max, outlen, err, sizeof(err)) < 0 ? -1 : 1;
}
