/* nllink.h -- the tun's link over rtnetlink: MTU, addresses, up; and its alias
 * (IFLA_IFALIAS), which marks a tun device that a run keeps persistent so that a crash
 * fails closed (see core/capture_tun.c). */
#ifndef SNET_NLLINK_H
#define SNET_NLLINK_H

#include <stddef.h>

struct cidr;

/* Sets the MTU (0: leave it), adds the addresses (NULL: none; IPv6 without DAD; one
 * already present is fine) and sets the link up. 0 or -1, err set. */
int nl_link_configure(const char *ifname, unsigned mtu, const struct cidr *addr4,
		      const struct cidr *addr6, char *err, size_t errlen);

/* Whether the link is already as nl_link_configure would leave it: up, with both
 * addresses (NULL: not checked) and the MTU (0: not checked). Reading needs no privilege,
 * so an unprivileged run can accept a device that `snet-tun --setup` configured.
 * 1 ready, 0 not (why says what differs), -1 with why set. */
int nl_link_ready(const char *ifname, unsigned mtu, const struct cidr *addr4,
		  const struct cidr *addr6, char *why, size_t whylen);

/* The alias a run writes on the device it keeps; a restart that finds it takes over. */
#define NL_ALIAS_KEPT "snet-tun: kept while running, fails closed after a crash"

/* Sets (an empty alias clears) the alias of ifname. 0 or -1, err set. */
int nl_alias_set(const char *ifname, const char *alias, char *err, size_t errlen);
/* The alias of ifname into out ("" when it has none). Needs no privilege. 0 or -1, err
 * set. */
int nl_alias_get(const char *ifname, char *out, size_t outlen, char *err, size_t errlen);

#endif
