/* dns_view.h -- for the DNS unit tests: whether a message view handed out without a parse
 * (a cache hit, an answer without its OPT) is the one dns_msg_parse gives of its bytes. */
#ifndef SNET_TEST_DNS_VIEW_H
#define SNET_TEST_DNS_VIEW_H

#include <stdbool.h>
#include <string.h>

#include "dns/msg.h"

static inline bool dns_view_is_parse(const struct dns_msg *v)
{
	struct dns_msg p;
	char err[256];

	if (dns_msg_parse(&p, v->wire, v->len, err, sizeof(err)) < 0)
		return false;
	return p.id == v->id && p.flags == v->flags && p.qdcount == v->qdcount &&
	       p.ancount == v->ancount && p.nscount == v->nscount && p.arcount == v->arcount &&
	       p.rr_off == v->rr_off && p.q.name_len == v->q.name_len &&
	       !memcmp(p.q.name, v->q.name, p.q.name_len) && p.q.qtype == v->q.qtype &&
	       p.q.qclass == v->q.qclass && p.edns.present == v->edns.present &&
	       p.edns.udp_size == v->edns.udp_size && p.edns.ext_rcode == v->edns.ext_rcode &&
	       p.edns.version == v->edns.version && p.edns.do_bit == v->edns.do_bit;
}

#endif
