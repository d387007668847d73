/* msg_write.c -- the DNS message codec's writing side: replies and queries with owner-name
 * compression, an OPT for EDNS and the UDP truncation policy (see msg.h). */
#include "dns/msg.h"

#include <string.h>

#include "dns/msg_internal.h"

#define COMP_MAX 64 /* remembered name offsets; later names compress less, still correct */

struct writer {
	uint8_t *out;
	size_t len, limit;
	uint16_t comp[COMP_MAX]; /* offsets where a written name (suffix) starts */
	unsigned ncomp;
};

static bool put(struct writer *w, const void *p, size_t n)
{
	if (w->limit - w->len < n)
		return false;
	if (n)
		memcpy(w->out + w->len, p, n);
	w->len += n;
	return true;
}

static bool put16(struct writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return put(w, b, 2);
}

static bool put32(struct writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	return put(w, b, 4);
}

/* Does the name we wrote at out[off] (following our own pointers) equal name, byte for byte? */
static bool written_name_eq(const struct writer *w, size_t off, const uint8_t *name)
{
	for (unsigned hops = 0; hops <= NAME_MAX_HOPS;) {
		uint8_t l = w->out[off];

		if ((l & 0xC0) == 0xC0) {
			off = (size_t)(l & 0x3F) << 8 | w->out[off + 1];
			hops++;
			continue;
		}
		if (l != name[0] || memcmp(w->out + off + 1, name + 1, l) != 0)
			return false;
		if (l == 0)
			return true;
		off += 1 + (size_t)l;
		name += 1 + (size_t)l;
	}
	return false;
}

/* Writes a valid name, ending in a pointer to the longest suffix already written. */
static bool put_name(struct writer *w, const uint8_t *name, size_t len)
{
	size_t start = w->len, i = 0;
	bool ptr = false;
	unsigned k = 0;

	for (; name[i]; i += 1 + (size_t)name[i]) {
		for (k = 0; k < w->ncomp && !written_name_eq(w, w->comp[k], name + i); k++)
			;
		if (k < w->ncomp) {
			ptr = true;
			break;
		}
	}
	if (ptr) {
		if (!put(w, name, i) || !put16(w, (uint16_t)(0xC000 | w->comp[k])))
			return false;
	} else if (!put(w, name, len)) {
		return false;
	}
	/* remember the labels written in place (the suffix behind a pointer is known already) */
	for (size_t j = 0; j < (ptr ? i : len - 1); j += 1 + (size_t)name[j])
		if (w->ncomp < COMP_MAX && start + j < 0x4000)
			w->comp[w->ncomp++] = (uint16_t)(start + j);
	return true;
}

static bool put_rr(struct writer *w, const struct dns_rr *rr)
{
	return put_name(w, rr->name, rr->name_len) && put16(w, rr->type) &&
	       put16(w, rr->rclass) && put32(w, rr->ttl) && put16(w, rr->rdlen) &&
	       put(w, rr->rdata, rr->rdlen);
}

static bool same_rrset(const struct dns_rr *a, const struct dns_rr *b)
{
	return a->type == b->type && a->rclass == b->rclass &&
	       dns_name_eq(a->name, a->name_len, b->name, b->name_len);
}

/* Both public writers; flags already masked. The OPT's room is kept back from w.limit. */
static int write_msg(uint16_t id, uint16_t flags, unsigned rcode, const struct dns_question *q,
		     const struct dns_rr *const rrs[3], const size_t n[3],
		     const struct dns_edns *edns, uint8_t *out, size_t max, size_t *outlen,
		     char *err, size_t errlen)
{
	size_t opt_len = edns ? 11 : 0, need, qend, total;
	uint16_t counts[3] = { 0, 0, 0 };
	unsigned qcomp;
	struct writer w;

	if (rcode > 0xFFF || (rcode > 0xF && !edns))
		return dns_msg_fail(err, errlen, "rcode %u needs EDNS", rcode);
	if (q && !dns_msg_name_valid(q->name, q->name_len))
		return dns_msg_fail(err, errlen, "malformed question name");
	if (max > DNS_MSG_MAX)
		max = DNS_MSG_MAX;
	need = DNS_HEADER_LEN + opt_len + (q ? (size_t)q->name_len + 4 : 0);
	if (max < need)
		return dns_msg_fail(err, errlen,
				    "%zu bytes of room, the header and question need %zu",
				    max, need);
	w.out = out;
	w.len = DNS_HEADER_LEN;
	w.limit = max - opt_len;
	w.ncomp = 0;
	if (q) { /* fits: checked above */
		put_name(&w, q->name, q->name_len);
		put16(&w, q->qtype);
		put16(&w, q->qclass);
	}
	qend = w.len;
	qcomp = w.ncomp;
	for (unsigned sec = 0; sec < 3; sec++) {
		size_t mark_len = w.len;
		unsigned mark_comp = w.ncomp, mark_count = 0;
		const struct dns_rr *prev = NULL;

		for (size_t i = 0; i < n[sec]; i++) {
			const struct dns_rr *rr = &rrs[sec][i];

			if (rr->type == DNS_T_OPT)
				continue;
			if (!dns_msg_name_valid(rr->name, rr->name_len) ||
			    (rr->rdlen && !rr->rdata))
				return dns_msg_fail(err, errlen,
						    "%s RR %zu: malformed name or rdata",
						    dns_msg_section_names[sec], i);
			if (!prev || !same_rrset(prev, rr)) {
				mark_len = w.len;
				mark_comp = w.ncomp;
				mark_count = counts[sec];
			}
			prev = rr;
			if (put_rr(&w, rr)) {
				counts[sec]++;
				continue;
			}
			if (sec == DNS_SEC_ADDITIONAL) { /* optional: end before this RRset */
				w.len = mark_len;
				w.ncomp = mark_comp;
				counts[sec] = (uint16_t)mark_count;
			} else {
				flags |= DNS_F_TC;
				w.len = qend;
				w.ncomp = qcomp;
				memset(counts, 0, sizeof(counts));
			}
			goto sections_done;
		}
	}
sections_done:
	if (edns) {
		w.limit = max;
		put(&w, "", 1);
		put16(&w, DNS_T_OPT);
		put16(&w, edns->udp_size < DNS_UDP_MIN ? DNS_UDP_MIN : edns->udp_size);
		put32(&w, (uint32_t)(rcode >> 4) << 24 | (edns->do_bit ? 0x8000u : 0));
		put16(&w, 0);
	}
	total = w.len;
	w.limit = max;
	w.len = 0;
	put16(&w, id);
	put16(&w, (uint16_t)(flags | (rcode & 0xF)));
	put16(&w, q ? 1 : 0);
	put16(&w, counts[0]);
	put16(&w, counts[1]);
	put16(&w, (uint16_t)(counts[2] + (edns ? 1 : 0)));
	*outlen = total;
	return 0;
}

int dns_write_reply(const struct dns_reply *r, uint8_t *out, size_t max, size_t *outlen,
		    char *err, size_t errlen)
{
	uint16_t keep = 0x7800 | DNS_F_AA | DNS_F_RD | DNS_F_RA | DNS_F_AD | DNS_F_CD;

	return write_msg(r->id, (uint16_t)(DNS_F_QR | (r->flags & keep)), r->rcode, r->q, r->rr,
			 r->n, r->edns, out, max, outlen, err, errlen);
}

int dns_write_query(uint16_t id, uint16_t flags, const struct dns_question *q,
		    const struct dns_edns *edns, uint8_t *out, size_t max, size_t *outlen,
		    char *err, size_t errlen)
{
	static const struct dns_rr *const none[3] = { NULL, NULL, NULL };
	static const size_t zero[3] = { 0, 0, 0 };
	uint16_t keep = 0x7800 | DNS_F_RD | DNS_F_AD | DNS_F_CD;

	return write_msg(id, flags & keep, 0, q, none, zero, edns, out, max, outlen, err, errlen);
}
