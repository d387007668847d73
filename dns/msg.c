/* msg.c -- the DNS message codec's reading side: parse with decompression through the
 * bounded cursor, RR iteration, TTL helpers, name helpers and TCP framing (see msg.h); and
 * what the writer (msg_write.c) shares with it (see msg_internal.h). */
#include "dns/msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "dns/msg_internal.h"

const char *const dns_msg_section_names[3] = { "answer", "authority", "additional" };

int dns_msg_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!errlen)
		return -1;
	n = snprintf(err, errlen, "dns message: ");
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c; }

/* Offsets where a label was read in place, one bit each; while parsing, a pointer may only
 * target one of those. So pointers land on names, never on TTLs or other fields, and
 * dns_msg_age_ttls cannot change what a name decodes to. */
struct seen {
	uint8_t bits[DNS_MSG_MAX / 8 + 1];
};

static void seen_set(struct seen *s, size_t off)
{
	s->bits[off >> 3] |= (uint8_t)(1u << (off & 7));
}

static bool seen_has(const struct seen *s, size_t off)
{
	return s->bits[off >> 3] >> (off & 7) & 1;
}

/* Reads the possibly compressed name at c->off (c spans the whole message) into out, and
 * advances c past the bytes the name takes in place (up to and including its first pointer).
 * Each pointer must point strictly before where the run of labels it ends began, so targets
 * strictly decrease and no loop is possible; the hop limit bounds the work besides. With
 * seen (when parsing), in-place labels are recorded and pointers must target one. */
static bool name_read(struct cursor *c, struct seen *seen, uint8_t out[DNS_NAME_MAX],
		      size_t *outlen, const char **why)
{
	size_t pos = c->off, limit = c->off, end = 0, n = 0;
	unsigned hops = 0;

	for (;;) {
		uint8_t l;

		if (pos >= c->len) {
			*why = "name runs past the end of the message";
			return false;
		}
		l = c->p[pos];
		if ((l & 0xC0) == 0xC0) {
			size_t target;

			if (pos + 1 >= c->len) {
				*why = "compression pointer runs past the end of the message";
				return false;
			}
			target = (size_t)(l & 0x3F) << 8 | c->p[pos + 1];
			if (!hops)
				end = pos + 2;
			if (target >= limit) {
				*why = "compression pointer does not point backwards";
				return false;
			}
			if (target < DNS_HEADER_LEN) {
				*why = "compression pointer into the header";
				return false;
			}
			if (seen && !seen_has(seen, target)) {
				*why = "compression pointer to something other than an earlier name";
				return false;
			}
			if (++hops > NAME_MAX_HOPS) {
				*why = "too many compression pointers";
				return false;
			}
			pos = limit = target;
			continue;
		}
		if (l & 0xC0) {
			*why = "label type 0x40/0x80 (extended label, or length over 63)";
			return false;
		}
		if (n + 1 + l > DNS_NAME_MAX) {
			*why = "name longer than 255 bytes";
			return false;
		}
		if (c->len - pos - 1 < l) {
			*why = "label runs past the end of the message";
			return false;
		}
		if (seen && !hops)
			seen_set(seen, pos);
		memcpy(out + n, c->p + pos, 1 + (size_t)l);
		n += 1 + (size_t)l;
		pos += 1 + (size_t)l;
		if (l == 0)
			break;
	}
	c->off = hops ? end : pos;
	*outlen = n;
	return true;
}

/* Layout of rdata holding names that may be compressed (RFC 3597 §4): N name, 2/4 fixed
 * bytes, S character-string. NULL: opaque, copied verbatim. */
static const char *rdata_format(uint16_t type)
{
	switch (type) {
	case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12: /* NS MD MF CNAME MB MG MR PTR */
		return "N";
	case 6: /* SOA */
		return "NN44444";
	case 14: case 17: /* MINFO RP */
		return "NN";
	case 15: case 18: case 21: /* MX AFSDB RT */
		return "2N";
	case 26: /* PX */
		return "2NN";
	case 33: /* SRV */
		return "222N";
	case 35: /* NAPTR */
		return "22SSSN";
	}
	return NULL;
}

/* Decompresses rdata at c->off..rdend following fmt into out (DNS_RDATA_EXPANDED_MAX). */
static bool rdata_expand(struct cursor *c, struct seen *seen, size_t rdend, const char *fmt,
			 uint8_t *out, size_t *outlen, const char **why)
{
	size_t n = 0, k;

	for (; *fmt; fmt++) {
		if (c->off >= rdend) {
			*why = "rdata shorter than its fields";
			return false;
		}
		switch (*fmt) {
		case 'N':
			if (!name_read(c, seen, out + n, &k, why))
				return false;
			break;
		case 'S':
			k = 1 + (size_t)c->p[c->off];
			if (!cursor_bytes(c, out + n, k)) {
				*why = "rdata runs past the end of the message";
				return false;
			}
			break;
		default:
			k = (size_t)(*fmt - '0');
			if (!cursor_bytes(c, out + n, k)) {
				*why = "rdata runs past the end of the message";
				return false;
			}
		}
		if (c->off > rdend) {
			*why = "rdata shorter than its fields";
			return false;
		}
		n += k;
	}
	if (c->off != rdend) {
		*why = "rdata longer than its fields";
		return false;
	}
	*outlen = n;
	return true;
}

/* Reads the RR at *off; name and rdbuf are the caller's storage behind rr. */
static bool rr_read(const uint8_t *wire, size_t len, struct seen *seen, size_t *off,
		    uint8_t *name, uint8_t *rdbuf, struct dns_rr *rr, size_t *ttl_off,
		    const char **why)
{
	struct cursor c = cursor_make(wire, len);
	uint16_t hi, lo, rdlen;
	const char *fmt;
	size_t rdend;

	c.off = *off;
	if (!name_read(&c, seen, name, &rr->name_len, why))
		return false;
	rr->name = name;
	*ttl_off = c.off + 4;
	if (!cursor_be16(&c, &rr->type) || !cursor_be16(&c, &rr->rclass) ||
	    !cursor_be16(&c, &hi) || !cursor_be16(&c, &lo) || !cursor_be16(&c, &rdlen)) {
		*why = "RR header runs past the end of the message";
		return false;
	}
	rr->ttl = (uint32_t)hi << 16 | lo;
	if (rr->type != DNS_T_OPT && (rr->ttl & 0x80000000u))
		rr->ttl = 0;
	if (cursor_left(&c) < rdlen) {
		*why = "rdata runs past the end of the message";
		return false;
	}
	rdend = c.off + rdlen;
	fmt = rdata_format(rr->type);
	/* RFC 2136 (UPDATE) uses empty rdata with class ANY or NONE to delete */
	if (fmt && !(rdlen == 0 && (rr->rclass == 255 || rr->rclass == 254))) {
		size_t n;

		if (!rdata_expand(&c, seen, rdend, fmt, rdbuf, &n, why))
			return false;
		rr->rdata = rdbuf;
		rr->rdlen = (uint16_t)n;
	} else {
		rr->rdata = wire + c.off;
		rr->rdlen = rdlen;
	}
	*off = rdend;
	return true;
}

static unsigned section_of(const struct dns_msg *m, unsigned index)
{
	if (index < m->ancount)
		return DNS_SEC_ANSWER;
	if (index < (unsigned)m->ancount + m->nscount)
		return DNS_SEC_AUTHORITY;
	return DNS_SEC_ADDITIONAL;
}

static const char *opt_read(struct dns_msg *m, const struct dns_rr *rr, unsigned sec)
{
	struct cursor c = cursor_make(rr->rdata, rr->rdlen);

	if (sec != DNS_SEC_ADDITIONAL)
		return "OPT RR outside the additional section";
	if (m->edns.present)
		return "more than one OPT RR";
	if (rr->name_len != 1)
		return "OPT RR owner is not the root";
	while (cursor_left(&c)) {
		uint16_t code, olen;

		if (!cursor_be16(&c, &code) || !cursor_be16(&c, &olen) || !cursor_skip(&c, olen))
			return "malformed EDNS option";
	}
	m->edns.present = true;
	m->edns.udp_size = rr->rclass < DNS_UDP_MIN ? DNS_UDP_MIN : rr->rclass;
	m->edns.ext_rcode = (uint8_t)(rr->ttl >> 24);
	m->edns.version = (uint8_t)(rr->ttl >> 16);
	m->edns.do_bit = (rr->ttl & 0x8000) != 0;
	return NULL;
}

int dns_msg_parse(struct dns_msg *m, const uint8_t *wire, size_t len, char *err, size_t errlen)
{
	struct cursor c = cursor_make(wire, len);
	uint8_t name[DNS_NAME_MAX], rdbuf[DNS_RDATA_EXPANDED_MAX];
	struct seen seen;
	const char *why = NULL;
	unsigned total;
	size_t off;

	memset(m, 0, sizeof(*m));
	m->edns.udp_size = DNS_UDP_MIN;
	if (len < DNS_HEADER_LEN)
		return dns_msg_fail(err, errlen, "%zu bytes, shorter than the 12-byte header", len);
	if (len > DNS_MSG_MAX)
		return dns_msg_fail(err, errlen, "%zu bytes, longer than 65535", len);
	m->wire = wire;
	m->len = len;
	memset(seen.bits, 0, len / 8 + 1);
	cursor_be16(&c, &m->id);
	cursor_be16(&c, &m->flags);
	cursor_be16(&c, &m->qdcount);
	cursor_be16(&c, &m->ancount);
	cursor_be16(&c, &m->nscount);
	cursor_be16(&c, &m->arcount);
	if (m->qdcount > 1)
		return dns_msg_fail(err, errlen, "%u questions (at most one is supported)",
				    m->qdcount);
	if (m->qdcount == 1) {
		size_t n;

		if (!name_read(&c, &seen, m->q.name, &n, &why))
			return dns_msg_fail(err, errlen, "question: %s", why);
		m->q.name_len = (uint8_t)n;
		if (!cursor_be16(&c, &m->q.qtype) || !cursor_be16(&c, &m->q.qclass))
			return dns_msg_fail(err, errlen,
					    "question runs past the end of the message");
	}
	m->rr_off = off = c.off;
	total = (unsigned)m->ancount + m->nscount + m->arcount;
	for (unsigned i = 0; i < total; i++) {
		unsigned sec = section_of(m, i);
		size_t start = off, ttl_off;
		struct dns_rr rr;

		if (!rr_read(wire, len, &seen, &off, name, rdbuf, &rr, &ttl_off, &why) ||
		    (rr.type == DNS_T_OPT && (why = opt_read(m, &rr, sec)) != NULL))
			return dns_msg_fail(err, errlen, "%s RR %u at offset %zu: %s",
					    dns_msg_section_names[sec],
					    i - (sec > 0 ? m->ancount : 0) -
						    (sec > 1 ? m->nscount : 0),
					    start, why);
	}
	if (off != len)
		return dns_msg_fail(err, errlen, "%zu bytes after the last RR", len - off);
	return 0;
}

void dns_rr_iter_init(struct dns_rr_iter *it, const struct dns_msg *m)
{
	it->m = m;
	it->off = m->rr_off;
	it->index = 0;
	it->ttl_off = 0;
}

bool dns_rr_next(struct dns_rr_iter *it, struct dns_rr *rr)
{
	const struct dns_msg *m = it->m;
	unsigned total = (unsigned)m->ancount + m->nscount + m->arcount;
	const char *why;

	if (it->index >= total)
		return false;
	if (!rr_read(m->wire, m->len, NULL, &it->off, it->name, it->rdata, rr, &it->ttl_off,
		     &why)) {
		it->index = total; /* cannot happen on a parsed message */
		return false;
	}
	rr->section = (uint8_t)section_of(m, it->index++);
	return true;
}

int dns_msg_min_ttl(const struct dns_msg *m, uint32_t *ttl)
{
	struct dns_rr_iter it;
	struct dns_rr rr;
	bool any = false;

	dns_rr_iter_init(&it, m);
	while (dns_rr_next(&it, &rr)) {
		if (rr.type == DNS_T_OPT)
			continue;
		if (!any || rr.ttl < *ttl)
			*ttl = rr.ttl;
		any = true;
	}
	return any ? 0 : -1;
}

int dns_msg_negative_ttl(const struct dns_msg *m, uint32_t *ttl)
{
	struct dns_rr_iter it;
	struct dns_rr rr;

	dns_rr_iter_init(&it, m);
	while (dns_rr_next(&it, &rr)) {
		const uint8_t *p;
		uint32_t minimum;

		if (rr.section != DNS_SEC_AUTHORITY || rr.type != DNS_T_SOA || rr.rdlen < 22)
			continue; /* < 22: the empty rdata of an UPDATE delete */
		/* expanded SOA rdata ends with SERIAL REFRESH RETRY EXPIRE MINIMUM */
		p = rr.rdata + rr.rdlen - 4;
		minimum = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		*ttl = rr.ttl < minimum ? rr.ttl : minimum;
		return 0;
	}
	return -1;
}

void dns_msg_age_ttls(const struct dns_msg *m, uint8_t *wire, uint32_t elapsed)
{
	struct dns_msg copy = *m;
	struct dns_rr_iter it;
	struct dns_rr rr;

	copy.wire = wire;
	dns_rr_iter_init(&it, &copy);
	while (dns_rr_next(&it, &rr)) {
		uint8_t *p = wire + it.ttl_off;
		uint32_t t;

		if (rr.type == DNS_T_OPT)
			continue;
		t = rr.ttl > elapsed ? rr.ttl - elapsed : 0;
		p[0] = (uint8_t)(t >> 24);
		p[1] = (uint8_t)(t >> 16);
		p[2] = (uint8_t)(t >> 8);
		p[3] = (uint8_t)t;
	}
}

bool dns_name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen)
		return false;
	/* length bytes are at most 63, below 'A', so folding every byte is safe */
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

void dns_msg_copy_for(const struct dns_msg *m, uint16_t id, const struct dns_question *q,
		      uint8_t *out, struct dns_msg *copy)
{
	memcpy(out, m->wire, m->len);
	out[0] = (uint8_t)(id >> 8);
	out[1] = (uint8_t)id;
	/* The question name sits uncompressed at offset 12 (a pointer there would point into
	 * the header). */
	memcpy(out + DNS_HEADER_LEN, q->name, q->name_len);
	*copy = *m;
	copy->wire = out;
	copy->id = id;
	memcpy(copy->q.name, q->name, q->name_len);
}

const char *dns_type_name(uint16_t t, char *buf, size_t len)
{
	static const struct { uint16_t t; const char *n; } names[] = {
		{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" },
		{ 13, "HINFO" }, { 15, "MX" }, { 16, "TXT" }, { 28, "AAAA" }, { 33, "SRV" },
		{ 35, "NAPTR" }, { 43, "DS" }, { 46, "RRSIG" }, { 48, "DNSKEY" }, { 64, "SVCB" },
		{ 65, "HTTPS" }, { 255, "ANY" }, { 257, "CAA" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].t == t)
			return names[i].n;
	snprintf(buf, len, "TYPE%u", t);
	return buf;
}

const char *dns_rcode_name(unsigned rc, char *buf, size_t len)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP", "REFUSED" };
	if (rc < ARRAY_SIZE(names))
		return names[rc];
	snprintf(buf, len, "RCODE%u", rc);
	return buf;
}

bool dns_key_eq(const struct dns_question *a, const struct dns_question *b)
{
	return a->qtype == b->qtype && a->qclass == b->qclass &&
	       dns_name_eq(a->name, a->name_len, b->name, b->name_len);
}

void dns_name_lower(const uint8_t *name, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len; i++)
		out[i] = lower(name[i]);
}

size_t dns_key_make(const struct dns_question *q, uint8_t key[DNS_KEY_MAX])
{
	size_t n = q->name_len;

	dns_name_lower(q->name, n, key);
	key[n++] = (uint8_t)(q->qtype >> 8);
	key[n++] = (uint8_t)q->qtype;
	key[n++] = (uint8_t)(q->qclass >> 8);
	key[n++] = (uint8_t)q->qclass;
	return n;
}

bool dns_msg_name_valid(const uint8_t *name, size_t len)
{
	size_t i = 0;

	if (!name || len < 1 || len > DNS_NAME_MAX)
		return false;
	while (i < len && name[i] != 0) {
		if (name[i] > DNS_LABEL_MAX)
			return false;
		i += 1 + (size_t)name[i];
	}
	return i == len - 1;
}

int dns_name_from_text(const char *text, uint8_t *out, size_t *len)
{
	const char *p = text;
	size_t lab = 0, n = 1; /* out[lab] is the current label's length byte */

	if (!*text)
		return -1;
	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		*len = 1;
		return 0;
	}
	for (;;) {
		char ch = *p;
		uint8_t b;

		if (ch == '.' || ch == '\0') {
			size_t l = n - lab - 1;

			if (l == 0 && ch == '\0') { /* after a trailing dot: out[lab] is the root */
				out[lab] = 0;
				*len = lab + 1;
				return 0;
			}
			if (l == 0 || l > DNS_LABEL_MAX)
				return -1;
			out[lab] = (uint8_t)l;
			lab = n++;
			if (ch == '\0') {
				out[lab] = 0;
				*len = n;
				return 0;
			}
			p++;
			continue;
		}
		if (ch == '\\' && p[1] >= '0' && p[1] <= '9') {
			if (p[2] < '0' || p[2] > '9' || p[3] < '0' || p[3] > '9')
				return -1;
			unsigned v = (unsigned)(p[1] - '0') * 100 + (unsigned)(p[2] - '0') * 10 +
				     (unsigned)(p[3] - '0');
			if (v > 255)
				return -1;
			b = (uint8_t)v;
			p += 4;
		} else if (ch == '\\') {
			if (!p[1])
				return -1;
			b = (uint8_t)p[1];
			p += 2;
		} else {
			b = (uint8_t)ch;
			p++;
		}
		if (n >= DNS_NAME_MAX - 1) /* room for this byte and the root after it */
			return -1;
		out[n++] = b;
	}
}

int dns_name_to_text(const uint8_t *name, size_t len, char out[DNS_NAME_TEXT_MAX])
{
	size_t i = 0, o = 0;

	if (!dns_msg_name_valid(name, len))
		return -1;
	if (len == 1) {
		strcpy(out, ".");
		return 0;
	}
	while (name[i]) {
		size_t l = name[i++];

		for (size_t j = 0; j < l; j++, i++) {
			uint8_t b = name[i];

			if (b == '.' || b == '\\') {
				out[o++] = '\\';
				out[o++] = (char)b;
			} else if (b > 0x20 && b < 0x7F) {
				out[o++] = (char)b;
			} else {
				o += (size_t)snprintf(out + o, 5, "\\%03u", b);
			}
		}
		out[o++] = '.';
	}
	out[o] = '\0';
	return 0;
}

int dns_tcp_frame(const uint8_t *in, size_t len, const uint8_t **msg, size_t *msglen)
{
	size_t n;

	if (len < 2)
		return DNS_NEED_MORE;
	n = (size_t)in[0] << 8 | in[1];
	if (n < DNS_HEADER_LEN)
		return DNS_ERROR;
	if (len - 2 < n)
		return DNS_NEED_MORE;
	*msg = in + 2;
	*msglen = n;
	return DNS_OK;
}
