/* upstream.c -- what both upstream transports share: the query we send, the check that
 * an answer is the one to our query, and random IDs. */
#include "dns/upstream.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/config.h"

#include "dns/answer.h"

int dns_up_write_query(uint16_t id, const struct dns_question *q, uint8_t *out, size_t max,
		       size_t *len)
{
	struct dns_edns e = { .present = true, .udp_size = DNS_OUR_UDP_SIZE };
	char err[128];

	return dns_write_query(id, DNS_F_RD, q, &e, out, max, len, err, sizeof(err));
}

int dns_up_match(const uint8_t *ans, size_t len, uint16_t id, const struct dns_question *q,
		 struct dns_msg *m)
{
	char err[128];

	if (len < DNS_HEADER_LEN || (uint16_t)(ans[0] << 8 | ans[1]) != id)
		return -1;
	if (dns_msg_parse(m, ans, len, err, sizeof(err)) < 0)
		return -1;
	if (!(m->flags & DNS_F_QR) || dns_flags_opcode(m->flags) != 0 || m->qdcount != 1 ||
	    !dns_key_eq(&m->q, q))
		return -1;
	return 0;
}

void dns_up_describe(struct dns_up *u, const struct host_port *hp)
{
	bool v6 = strchr(hp->host, ':') != NULL;

	snprintf(u->desc, sizeof(u->desc), "%s %s%s%s:%u", u->ops->name, v6 ? "[" : "", hp->host,
		 v6 ? "]" : "", hp->port);
}

uint16_t dns_up_random_id(void)
{
	return (uint16_t)randombytes_uniform(65536);
}
