/* nlhost.h -- host routes in our routing table for addresses learned from DNS answers:
 * a bypass-domains address gets a throw route (the lookup goes on to the main table, so
 * it is reached directly, around the tun), a proxy-domains address a route into the tun
 * (more specific than any bypass throw route, so it is proxied even inside a bypass
 * CIDR), or an unreachable route for a proxy-domains address of a family the tun does
 * not carry (so it fails rather than goes around). */
#ifndef SNET_NLHOST_H
#define SNET_NLHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nl_host {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	bool via_tun; /* true: into the tun (proxy); false: throw (bypass) */
	bool unreachable; /* instead: nowhere (a proxied address the tun cannot carry) */
};

/* Adds (replacing what is there) or deletes the /32 or /128 routes for v[0..n) in table,
 * in one batch. Deleting a missing route is not an error. 0 or -1, err set. */
int nl_hosts_apply(const char *ifname, uint32_t table, const struct nl_host *v, size_t n,
		   bool add, char *err, size_t errlen);

#endif
