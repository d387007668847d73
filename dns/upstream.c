/* upstream.c -- what both upstream transports share: the query we send, the check that
 * an answer is the one to our query (and its one parse), random IDs; and the set of
 * upstreams of one configuration. */
#include "dns/upstream.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"

#include "dns/answer.h"
#include "dns/sysresolv.h"

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

void dns_upset_put(struct dns_upset *u)
{
	if (!u || --u->refs)
		return;
	for (int s = 0; s < 2; s++) {
		for (size_t i = 0; i < u->n[s]; i++)
			if (u->v[s][i])
				u->v[s][i]->ops->free(u->v[s][i]);
		free(u->v[s]);
	}
	free(u);
}

struct dns_upset *dns_upset_new(struct ev_loop *loop, struct resolver *res,
				 struct relay *relay, uint32_t fwmark, const struct config_dns *c)
{
	struct dns_upset *u = calloc(1, sizeof(*u));
	struct host_port sys[SYSRESOLV_MAX];
	struct host_port_list system = { .v = sys };
	const struct host_port_list *l[2] = { &c->domestic, &c->foreign };
	size_t loopback;

	if (!u)
		return NULL;
	/* dns.domestic left empty: the system's resolvers, as read now */
	if (c->domestic.n == 0 && c->enable) {
		char names[SYSRESOLV_MAX * (CONFIG_HOST_MAX + 2)] = "";
		size_t at = 0;

		system.n = sysresolv_servers(sys, &loopback);
		l[DNS_DOMESTIC] = &system;
		for (size_t i = 0; i < system.n && at < sizeof(names); i++)
			at += (size_t)snprintf(names + at, sizeof(names) - at, "%s%s",
					       i ? ", " : "", sys[i].host);
		if (system.n)
			log_info("dns: domestic resolvers (dns.domestic not set): %s, from "
				 "/etc/resolv.conf", names);
		else
			log_warn("dns: dns.domestic is not set and /etc/resolv.conf names no usable "
				 "nameserver (%zu loopback ones skipped): every query goes to "
				 "dns.foreign", loopback);
	}
	u->refs = 1;
	for (int s = 0; s < 2; s++) {
		u->v[s] = calloc(l[s]->n ? l[s]->n : 1, sizeof(*u->v[s]));
		if (!u->v[s])
			goto fail;
		for (size_t i = 0; i < l[s]->n; i++) {
			u->v[s][i] = s == DNS_DOMESTIC
					     ? dns_up_direct_new(loop, res, &l[s]->v[i], fwmark)
					     : dns_up_tunnel_new(loop, relay, &l[s]->v[i]);
			if (!u->v[s][i])
				goto fail;
			u->n[s]++;
		}
	}
	return u;
fail:
	dns_upset_put(u);
	return NULL;
}
