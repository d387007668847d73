/* lookup.h -- the resolver backend (core/resolve.h) for names snet-tun itself needs, above
 * all the proxy server's: /etc/hosts first, then A and AAAA from the domestic resolvers
 * (dns.domestic, or the non-loopback nameservers of /etc/resolv.conf when that is empty),
 * asked directly on marked sockets (dns/up_direct.c), so the lookup never passes through
 * snet-tun's own resolver, whose foreign side needs the proxy. */
#ifndef SNET_DNS_LOOKUP_H
#define SNET_DNS_LOOKUP_H

#include <stddef.h>

#include "base/resolve.h"

struct config;
struct dns_lookup;
struct ev_loop;
struct resolver;

/* The servers of cfg. res looks the servers' own names up (getaddrinfo alone). Warns once
 * when cfg has no domestic resolver and /etc/resolv.conf no usable one: the backend then
 * declines and getaddrinfo() is used. NULL with err set (out of memory). */
struct dns_lookup *dns_lookup_new(struct ev_loop *loop, struct resolver *res,
				  const struct config *cfg, char *err, size_t errlen);
/* Takes the new config's servers; lookups in flight keep theirs. 0 or -1 with err set. */
int dns_lookup_reconfigure(struct dns_lookup *l, const struct config *cfg, char *err,
			   size_t errlen);
/* Unplug it from the resolver first (resolver_set_backend), which cancels its lookups. */
void dns_lookup_free(struct dns_lookup *l);

/* The backend's two functions, for resolver_set_backend(r, dns_lookup_start,
 * dns_lookup_cancel, l). */
void *dns_lookup_start(void *l, const char *host, resolve_done_fn done, void *done_arg);
void dns_lookup_cancel(void *l, void *handle);

#endif
