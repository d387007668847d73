/* answer.h -- what goes back to a client: an upstream or cached answer fitted to the
 * client (its EDNS or none, its UDP size, TC when it does not fit), error replies, and
 * the local answers (hosts: A, AAAA and PTR; disable-qtypes; block-domains). */
#ifndef SNET_DNS_ANSWER_H
#define SNET_DNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/msg.h"

struct config_dns;
struct dns_hosts;

/* Our OPT in replies to EDNS clients, and the UDP size we ask upstreams for. */
#define DNS_OUR_UDP_SIZE 1232
/* TTL of local (hosts) answers. */
#define DNS_LOCAL_TTL 60

/* The most a reply to q may take: its EDNS size (at most ours, at least 512) over UDP,
 * 65535 over TCP. */
size_t dns_answer_max(const struct dns_msg *q, bool tcp);

/* Fits the parsed answer ans (the client's ID and question already in place) to the client
 * whose query is q: sent as it is when it fits and carries OPT only if q did; otherwise
 * rewritten without the upstream's OPT (our own one for an EDNS client), truncated (TC,
 * no records) when the answer or authority section does not fit in max. Into out[max],
 * which must not overlap ans's bytes. 0, or -1 when ans has no single question, carries
 * an rcode this client cannot be told, or cannot be rewritten (the caller sends SERVFAIL). */
int dns_answer_fit(const struct dns_msg *ans, const struct dns_msg *q, size_t max, uint8_t *out,
		   size_t *outlen);

/* The same for an answer known to carry no OPT (what the cache stores): as it is for a
 * client without EDNS, with our OPT appended for one with EDNS, when that fits; else
 * through dns_answer_fit. */
int dns_answer_fit_plain(const struct dns_msg *ans, const struct dns_msg *q, size_t max,
			 uint8_t *out, size_t *outlen);

/* ans without its OPT RR (cut off when it is the last RR, else the message rebuilt), into
 * out[DNS_MSG_MAX], and *plain its view (what dns_msg_parse gives of it): the form the
 * cache keeps, so hits need no parse to be fitted. 0, or -1 (no single question, or the
 * rebuilt message does not come out). */
int dns_answer_strip_opt(const struct dns_msg *ans, uint8_t *out, struct dns_msg *plain);

/* A reply to q with rcode and no records (SERVFAIL, NXDOMAIN, REFUSED, NOERROR/NODATA...).
 * q may have failed to parse beyond its header: hdr is then the client's 12 header bytes
 * and q NULL (FORMERR). 0 or -1 (nothing to answer). */
int dns_answer_error(const struct dns_msg *q, const uint8_t *hdr, unsigned rcode, uint8_t *out,
		     size_t max, size_t *outlen);

/* A NOERROR reply to q with one record of `type` and rdata addr (4 or 16 bytes), or with
 * no record when addr is NULL (NODATA). 0 or -1. */
int dns_answer_addr(const struct dns_msg *q, uint16_t type, const uint8_t *addr, uint32_t ttl,
		    size_t max, uint8_t *out, size_t *outlen);

/* hosts: name -> addresses, and the reverse names of those addresses. */
struct dns_hosts *dns_hosts_new(const struct config_dns *cfg, char *err, size_t errlen);
void dns_hosts_free(struct dns_hosts *h);
/* When q is answered from hosts (A or AAAA of a hosts name -- NODATA when it has no
 * address of that family --, PTR of one of their addresses), writes the reply and returns
 * 1; 0 when hosts do not know the name; -1 when the reply cannot be written. */
int dns_hosts_answer(const struct dns_hosts *h, const struct dns_msg *q, size_t max,
		     uint8_t *out, size_t *outlen);

#endif
