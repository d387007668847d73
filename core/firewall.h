/* firewall.h -- the nftables rules redirect mode owns: one table, replaced atomically. */
#ifndef SNET_FIREWALL_H
#define SNET_FIREWALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

#define FIREWALL_TABLE "snet_tun" /* table inet snet_tun */

struct firewall_spec {
	const struct config *cfg; /* fwmark, bypass CIDRs, proxy server */
	uint16_t redirect_port;
	bool ipv6; /* redirect IPv6 too (an IPv6 listener is open) */
	uint16_t dns_port; /* local UDP/TCP port-53 traffic goes here; 0: not redirected */
	bool dns_ipv6; /* IPv6 DNS too (the resolver listens on [::1]) */
};

/* Builds the ruleset text for spec into a malloc'd string (tests read it). NULL on ENOMEM. */
char *firewall_render(const struct firewall_spec *spec);
/* Installs (or atomically replaces) our table in one nft transaction. 0 or -1, err set. */
int firewall_install(const struct firewall_spec *spec, char *err, size_t errlen);
/* Removes our table if present. 0 or -1, err set. */
int firewall_remove(char *err, size_t errlen);
/* Frees the nftables context (after the last install/remove). */
void firewall_close(void);

#endif
