/* msg.h -- the DNS message codec: parsing (RFC 1035 with name decompression, EDNS0 per
 * RFC 6891), a reply/query writer with owner-name compression and UDP truncation, the
 * TTL helpers a cache needs (RFC 2181 §8, RFC 2308) and TCP framing. No I/O, no allocation.
 *
 * Names are kept in uncompressed wire form ("\3www\7example\3com\0"), case as received.
 * Random query IDs are the caller's job.
 */
#ifndef SNET_DNS_MSG_H
#define SNET_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_LEN 12
#define DNS_NAME_MAX 255 /* wire form, root label included */
#define DNS_LABEL_MAX 63
#define DNS_UDP_MIN 512 /* what every client accepts (RFC 1035 §4.2.1) */
#define DNS_MSG_MAX 65535
/* Longest rdata after decompression (NAPTR: 2+2+3*256+255). */
#define DNS_RDATA_EXPANDED_MAX 1027
/* Longest dns_name_to_text output, NUL included (every byte as \DDD). */
#define DNS_NAME_TEXT_MAX (4 * DNS_NAME_MAX + 1)

enum { DNS_OK = 0, DNS_NEED_MORE = 1, DNS_ERROR = -1 };

enum dns_type {
	DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_SOA = 6, DNS_T_PTR = 12,
	DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28, DNS_T_SRV = 33, DNS_T_OPT = 41,
	DNS_T_ANY = 255,
};
#define DNS_C_IN 1

enum dns_rcode {
	DNS_R_NOERROR = 0, DNS_R_FORMERR = 1, DNS_R_SERVFAIL = 2, DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4, DNS_R_REFUSED = 5, DNS_R_BADVERS = 16,
};

/* Bits of the header's flags word; opcode is bits 11-14, rcode bits 0-3. */
#define DNS_F_QR 0x8000
#define DNS_F_AA 0x0400
#define DNS_F_TC 0x0200
#define DNS_F_RD 0x0100
#define DNS_F_RA 0x0080
#define DNS_F_AD 0x0020
#define DNS_F_CD 0x0010
static inline unsigned dns_flags_opcode(uint16_t flags) { return flags >> 11 & 0xF; }

enum dns_section { DNS_SEC_ANSWER = 0, DNS_SEC_AUTHORITY = 1, DNS_SEC_ADDITIONAL = 2 };

struct dns_question {
	uint8_t name[DNS_NAME_MAX]; /* exactly as asked: case kept */
	uint8_t name_len;
	uint16_t qtype, qclass;
};

struct dns_edns {
	bool present; /* the message has an OPT RR */
	uint16_t udp_size; /* OPT class, raised to 512; 512 when absent */
	uint8_t ext_rcode; /* upper 8 bits of the 12-bit rcode */
	uint8_t version;
	bool do_bit; /* DNSSEC OK */
};

/* A parsed message. It points into the bytes given to dns_msg_parse, which must outlive it. */
struct dns_msg {
	const uint8_t *wire;
	size_t len;
	uint16_t id, flags;
	uint16_t qdcount, ancount, nscount, arcount;
	struct dns_question q; /* valid when qdcount == 1 */
	struct dns_edns edns;
	size_t rr_off; /* where the answer section starts */
};

/* One resource record, read or to be written. The name is uncompressed wire form; rdata is
 * verbatim except for types whose rdata holds names that RFC 1035/3597 allow to be
 * compressed (NS, CNAME, SOA, PTR, MX, MINFO, MB/MD/MF/MG/MR, RP, AFSDB, RT, PX, SRV,
 * NAPTR): those names come decompressed, so the record can go into another message. */
struct dns_rr {
	const uint8_t *name;
	size_t name_len;
	uint16_t type, rclass;
	uint32_t ttl; /* a TTL with the top bit set reads as 0 (RFC 2181 §8) */
	const uint8_t *rdata;
	uint16_t rdlen;
	uint8_t section; /* enum dns_section; set by dns_rr_next, ignored by the writer */
};

/* Parses and checks a whole message: header, at most one question, every RR (names,
 * bounds, rdata of the types above), at most one OPT (root owner, additional section,
 * well-formed options), no trailing bytes. A compression pointer must point strictly before
 * where its name (or the previous pointer's target) starts, at a label of an earlier name
 * (question, owner, or a name in the rdata of the types above): never into the header, a
 * TTL or opaque rdata. Empty rdata is accepted for class ANY/NONE (UPDATE deletes).
 * 0, or -1 with the reason (section, RR index within it, offset) in err. */
int dns_msg_parse(struct dns_msg *m, const uint8_t *wire, size_t len, char *err, size_t errlen);

/* The 12-bit rcode: header bits plus the OPT extension. */
static inline unsigned dns_msg_rcode(const struct dns_msg *m)
{
	return (unsigned)m->edns.ext_rcode << 4 | (m->flags & 0xF);
}

/* Walks the RRs of a parsed message, OPT included, in order. The name and decompressed
 * rdata live in the iterator and are valid until the next call. */
struct dns_rr_iter {
	const struct dns_msg *m;
	size_t off;
	unsigned index;
	size_t ttl_off; /* offset of the TTL field of the RR last returned */
	uint8_t name[DNS_NAME_MAX];
	uint8_t rdata[DNS_RDATA_EXPANDED_MAX];
};
void dns_rr_iter_init(struct dns_rr_iter *it, const struct dns_msg *m);
bool dns_rr_next(struct dns_rr_iter *it, struct dns_rr *rr);

/* Smallest TTL over every RR but OPT. -1 when there is none. */
int dns_msg_min_ttl(const struct dns_msg *m, uint32_t *ttl);
/* RFC 2308 §5: min(SOA TTL, SOA MINIMUM) of the first SOA in the authority section.
 * -1 when there is none (such a negative answer should not be cached). */
int dns_msg_negative_ttl(const struct dns_msg *m, uint32_t *ttl);
/* Subtracts `elapsed` seconds (floor 0) from the TTL of every RR but OPT, in `wire`: the
 * bytes m was parsed from, or a copy of them (a cached message about to be sent again). */
void dns_msg_age_ttls(const struct dns_msg *m, uint8_t *wire, uint32_t elapsed);

/* Copies the parsed message m into out[m->len] for another asker of the same key: the ID
 * set to id, the question name in q's case (same key, so the same length; names that point
 * into it stay valid). *copy is the view of out that dns_msg_parse would give, so the copy
 * is never parsed again. out must not overlap m's bytes. */
void dns_msg_copy_for(const struct dns_msg *m, uint16_t id, const struct dns_question *q,
		      uint8_t *out, struct dns_msg *copy);

/* Names for logs: "AAAA", "NXDOMAIN"; "TYPE65280", "RCODE16" (in buf) for the others. */
const char *dns_type_name(uint16_t t, char *buf, size_t len);
const char *dns_rcode_name(unsigned rc, char *buf, size_t len);

/* Case-insensitive (ASCII) equality of two wire-form names. */
bool dns_name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/* The name with ASCII letters lowercased, into out[len]. */
void dns_name_lower(const uint8_t *name, size_t len, uint8_t *out);
/* Whether a and b are the same key (name, type, class): equality ignores the name's case. */
bool dns_key_eq(const struct dns_question *a, const struct dns_question *b);
/* The same key as bytes, for a hash table (base/hash.h): the name lowercased, then type
 * and class. Its length (at most DNS_KEY_MAX). */
#define DNS_KEY_MAX (DNS_NAME_MAX + 4)
size_t dns_key_make(const struct dns_question *q, uint8_t key[DNS_KEY_MAX]);

/* "www.example.com" (trailing dot optional, "." is the root; \. \\ \DDD escapes) to wire
 * form in out[DNS_NAME_MAX]. 0 or -1 (empty label, label over 63, name over 255). */
int dns_name_from_text(const char *text, uint8_t *out, size_t *len);
/* Wire form to text ("www.example.com.", "." for the root) for logs; unprintable bytes, dots
 * and backslashes inside labels escaped. 0, or -1 when the name is malformed. */
int dns_name_to_text(const uint8_t *name, size_t len, char out[DNS_NAME_TEXT_MAX]);

/* A reply to write. QR is set; TC is decided by the writer; the rcode's low 4 bits go into
 * the header and the upper 8 into the OPT RR (so rcode > 15 needs edns). OPT RRs in the
 * lists are skipped: the writer adds its own when edns is not NULL. */
struct dns_reply {
	uint16_t id;
	uint16_t flags; /* AA, RD, RA, AD, CD, opcode; QR/TC/rcode bits are ignored */
	unsigned rcode;
	const struct dns_question *q; /* NULL: no question section */
	const struct dns_rr *rr[3]; /* indexed by enum dns_section */
	size_t n[3];
	const struct dns_edns *edns; /* our OPT: udp_size and do_bit (version 0) */
};

/* Writes the reply into out[0..max). Owner names are compressed against earlier names
 * (exact bytes, so case survives); rdata is written uncompressed.
 * Truncation policy (RFC 2181 §9): when an answer or authority RR does not fit, TC is set
 * and all three sections are emptied -- header, question and OPT only; the client retries
 * over TCP and never caches a partial RRset. When only additional RRs do not fit, the
 * additional section ends before the RRset that did not fit, without TC.
 * For UDP pass max = the client's edns.udp_size (at most our buffer); for TCP 65535.
 * 0, or -1 with err (max below header + question + OPT, malformed name, rcode > 15 without
 * edns). */
int dns_write_reply(const struct dns_reply *r, uint8_t *out, size_t max, size_t *outlen,
		    char *err, size_t errlen);

/* Writes a query: id, flags (RD, CD, AD), one question, an OPT when edns is not NULL. */
int dns_write_query(uint16_t id, uint16_t flags, const struct dns_question *q,
		    const struct dns_edns *edns, uint8_t *out, size_t max, size_t *outlen,
		    char *err, size_t errlen);

/* TCP framing (RFC 1035 §4.2.2): finds the length-prefixed message at the front of
 * in[0..len). DNS_OK: *msg and *msglen are set and the frame took 2 + *msglen bytes;
 * DNS_NEED_MORE: not all there yet; DNS_ERROR: a length below the 12-byte header. */
int dns_tcp_frame(const uint8_t *in, size_t len, const uint8_t **msg, size_t *msglen);

#endif
