/* gateway.h -- what the gateway role (gateway.enable) shares between the capture modes:
 * IP forwarding on while running, with the values found restored at exit. (Who may use a
 * listener opened for the LAN is net_peer_allowed, base/net.h.) */
#ifndef SNET_GATEWAY_H
#define SNET_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct cidr;
struct cidr_list;

/* Forwarding per family (0 IPv4, 1 IPv6): what was there before we turned it on. */
struct gateway_fwd {
	bool changed[2];
	char old[2][16];
};

/* Turns forwarding on for IPv4 (v4) and IPv6 (v6) where it is not on yet, remembering the
 * value found (/proc/sys/net/ipv4/ip_forward, /proc/sys/net/ipv6/conf/all/forwarding of
 * the process's network namespace). Families turned on by an earlier call stay on. 0, or
 * -1 with err set (errno's text); what this call changed stays changed. */
int gateway_fwd_on(struct gateway_fwd *f, bool v4, bool v6, char *err, size_t errlen);
/* Writes the values found back, for the families we changed (once). 0, or -1 with err set. */
int gateway_fwd_restore(struct gateway_fwd *f, char *err, size_t errlen);

/* Whether lan holds a range of family. */
bool gateway_lan_has(const struct cidr_list *lan, int family);

#endif
