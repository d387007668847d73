/* firewall.h -- the nftables rules redirect mode owns: one table, replaced atomically. */
#ifndef SNET_FIREWALL_H
#define SNET_FIREWALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct learned;
struct learned_addr;

#define FIREWALL_TABLE "snet_tun" /* table inet snet_tun */

struct firewall_spec {
	const struct config *cfg; /* fwmark, bypass CIDRs, proxy server */
	uint16_t redirect_port;
	bool ipv6; /* redirect IPv6 too (an IPv6 listener is open) */
	uint16_t dns_port; /* local UDP/TCP port-53 traffic goes here; 0: not redirected */
	bool dns_ipv6; /* IPv6 DNS too (the resolver listens on [::1]) */
	/* Addresses learned from DNS answers (NULL: none), put into the learn_* sets with
	 * what is left of their lifetime at `now`. */
	const struct learned *learned;
	double now;
	/* gateway.enable: the LAN's (cfg->gateway.lan) traffic too: a prerouting chain
	 * redirects its TCP to redirect_port and its DNS to dns_port, a forward chain is its
	 * kill switch (block-uncaptured), a postrouting chain masquerades what it sends
	 * past the capture. */
	bool gateway;
	bool gateway_ipv6; /* the LAN's IPv6 TCP too (a wildcard IPv6 listener takes it) */
	bool gateway_dns_ipv6; /* the LAN's IPv6 DNS too */
	/* Tun mode, with the tun's interface index: only the LAN's masquerade, for what does
	 * not leave through the tun (the routes capture the rest). 0: redirect mode. */
	unsigned tun_ifindex;
	/* Redirect mode's UDP through TPROXY (capture/udp_tproxy.c): a route chain marks the
	 * machine's own UDP to captured destinations with tproxy_mark (the policy route of
	 * tun/nltproxy.h sends it back in), a prerouting chain hands what carries the mark to
	 * the transparent socket at udp4 / udp6 (NULL: that family's UDP is not captured and
	 * the kill switch refuses it). */
	const struct sockaddr_storage *udp4, *udp6;
	/* redirect.method tproxy: the machine's own TCP the output chain would redirect is
	 * marked instead (the same rules, the connection's later packets by its ct mark) and
	 * TPROXYed to the transparent listener at tcp4 / tcp6 (both NULL: redirected; one
	 * NULL: that family is not captured); with the gateway, the LAN's TCP too. */
	const struct sockaddr_storage *tcp4, *tcp6;
	uint32_t tproxy_mark; /* UDP's and TCP's; a postrouting chain drops it off lo */
	/* capture.cgroups: only sockets of processes in these groups are redirected, marked
	 * for TPROXY and held by the kill switch (NULL: every process). */
	const struct cgroups *cgroups;
	/* Tun mode with cgroups: a route chain sets this mark on those groups' packets (not
	 * on our own marked ones), which tun/netlink.h's fwmark rule sends into the tun. */
	uint32_t cgroup_mark;
};

/* Builds the ruleset text for spec into a malloc'd string (tests read it). NULL on ENOMEM. */
char *firewall_render(const struct firewall_spec *spec);
/* Installs (or atomically replaces) our table in one nft transaction. 0 or -1, err set. */
int firewall_install(const struct firewall_spec *spec, char *err, size_t errlen);
/* Puts learned addresses into the running table's sets (learn_bypass4/6 for bypass,
 * learn_proxy4/6 for proxy-domains), each with the timeout left until its expiry at
 * `now`, out of the other kind's set, in one transaction. 0 or -1, err set. */
int firewall_learn(const struct learned_addr *v, size_t n, double now, char *err, size_t errlen);
/* Removes our table if present. 0 or -1, err set. */
int firewall_remove(char *err, size_t errlen);
/* Frees the nftables context (after the last install/remove). */
void firewall_close(void);

#endif
