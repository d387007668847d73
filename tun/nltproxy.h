/* nltproxy.h -- the policy routing TPROXY needs (redirect mode's UDP): marked packets are
 * delivered locally, so locally generated datagrams that nftables marked in `output`
 * come back in through `prerouting`, where the tproxy rule hands them to our socket:
 *
 *   priority:   fwmark MARK lookup TABLE          IPv4, and IPv6 with ipv6
 *   table:      local default dev lo              (local 0.0.0.0/0, local ::/0)
 */
#ifndef SNET_NLTPROXY_H
#define SNET_NLTPROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nl_tproxy {
	uint32_t mark; /* the mark nftables sets on what it sends to TPROXY; not 0 */
	uint32_t table;
	uint32_t priority;
	bool ipv6;
};

/* Removes what an earlier install left, then adds the rules and routes (both families
 * with ipv6, else IPv4). A failure half-way removes what was added. 0 or -1, err set. */
int nl_tproxy_install(const struct nl_tproxy *t, char *err, size_t errlen);
/* Removes the rules and routes of both families; missing ones are not errors. 0 or -1,
 * err set. */
int nl_tproxy_remove(const struct nl_tproxy *t, char *err, size_t errlen);

#endif
