/* firewall.c -- the nftables rules redirect mode owns.
 *
 * Everything lives in one table, `inet snet_tun`, so removal is one command and
 * nothing of anyone else's is touched. Install and replace are one atomic nft
 * transaction ("create if missing, delete, create anew"), so a reload never leaves
 * a moment without rules. Done through libnftables in-process: no shell, and nft's
 * own error text comes back to us. The chain redirects locally generated TCP except
 * our own marked sockets, local addresses, the proxy server and the bypass CIDRs (with
 * redirect.method tproxy the same rules mark it for TPROXY instead, see add_tcp_tproxy).
 * redirect.uids / redirect.exclude-uids scope every chain for the machine's own
 * sockets (`meta skuid`) to those users: TCP, UDP, DNS and the kill switch.
 */
#include "capture/firewall.h"
#include "capture/cgroup.h"
#include "capture/learned.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/net.h"

/* A growing string; on allocation failure it goes NULL and stays NULL. */
struct text {
	char *s;
	size_t len, cap;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!t->s && t->cap)
		return; /* already failed */
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			goto fail;
		if (t->s && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t ncap = t->cap ? t->cap * 2 : 4096;
		while (ncap < t->len + (size_t)n + 1)
			ncap *= 2;
		char *p = realloc(t->s, ncap);
		if (!p)
			goto fail;
		t->s = p;
		t->cap = ncap;
	}
fail:
	free(t->s);
	t->s = NULL;
	t->cap = 1;
}

static void add_cidr(struct text *t, const struct cidr *c, bool *first)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, ip, sizeof(ip));
	text_add(t, "%s%s/%u", *first ? "" : ", ", ip, c->prefix);
	*first = false;
}

static void add_list(struct text *t, const struct cidr_list *l, int family, bool *first)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].family == family)
			add_cidr(t, &l->v[i], first);
	}
}

static void add_set(struct text *t, const struct config *cfg, int family)
{
	const char *loopback = family == AF_INET ? "127.0.0.0/8, 0.0.0.0/8" : "::1/128, ::/128";
	struct cidr server;
	bool first = false;

	text_add(t, "\tset bypass%c {\n\t\ttype %s\n\t\tflags interval\n\t\tauto-merge\n"
		 "\t\telements = { %s", family == AF_INET ? '4' : '6',
		 family == AF_INET ? "ipv4_addr" : "ipv6_addr", loopback);
	/* The proxy servers given as addresses; a name is covered by the mark (and by the
	 * learned set once looked up). */
	for (size_t i = 0; i < cfg->n_proxies; i++)
		if (cfg->proxies[i].type != PROXY_TYPE_DIRECT &&
		    cidr_parse(cfg->proxies[i].server, &server) == 0 && server.family == family)
			add_cidr(t, &server, &first);
	add_list(t, &cfg->rules.bypass_cidrs, family, &first);
	if (cfg->rules.scope == SCOPE_BYPASS_CN)
		add_list(t, &cfg->rules.cn_cidrs, family, &first);
	text_add(t, " }\n\t}\n");
}

static void add_uid_set(struct text *t, const struct uid_list *l)
{
	text_add(t, "{ ");
	for (size_t i = 0; i < l->n; i++)
		text_add(t, "%s%u", i ? ", " : "", (unsigned)l->v[i]);
	text_add(t, " }");
}

/* The users a chain for the machine's own sockets leaves alone: redirect.exclude-uids,
 * and with redirect.uids everyone else. A packet without a socket matches neither and
 * stays in the chain (the kernel treats it as uid 0's in tun mode's policy rules, too). */
static void add_user_scope(struct text *t, const struct config *cfg)
{
	if (cfg->redirect.exclude_uids.n) {
		text_add(t, "\t\tmeta skuid ");
		add_uid_set(t, &cfg->redirect.exclude_uids);
		text_add(t, " return\n");
	}
	if (cfg->redirect.uids.n) {
		text_add(t, "\t\tmeta skuid != ");
		add_uid_set(t, &cfg->redirect.uids);
		text_add(t, " return\n");
	}
}

/* The end of a kill-switch chain: proxy-domains' addresses that were not redirected (not
 * TCP, IPv6 without its listener, forwarded) are refused even inside a bypass network;
 * bypassed destinations (and, with lan, the LAN) pass; the rest is refused. */
static void add_refuse_tail(struct text *t, bool lan)
{
	text_add(t, "\t\tip daddr @learn_proxy4 meta l4proto tcp reject with tcp reset\n"
		 "\t\tip daddr @learn_proxy4 reject\n"
		 "\t\tip6 daddr @learn_proxy6 meta l4proto tcp reject with tcp reset\n"
		 "\t\tip6 daddr @learn_proxy6 reject\n"
		 "\t\tip daddr @learn_bypass4 return\n"
		 "\t\tip6 daddr @learn_bypass6 return\n"
		 "\t\tip daddr @bypass4 return\n"
		 "\t\tip6 daddr @bypass6 return\n"
		 "%s"
		 "\t\tmeta l4proto tcp reject with tcp reset\n"
		 "\t\tmeta l4proto udp counter reject\n" /* counted: UDP refused */
		 "\t\treject\n"
		 "\t}\n",
		 lan ? "\t\tip daddr @lan4 return\n\t\tip6 daddr @lan6 return\n" : "");
}

static unsigned timeout_left(const struct learned_addr *a, double now)
{
	double left = a->expires - now;

	return left < 1 ? 1 : left > 2147483 ? 2147483 : (unsigned)left;
}

struct learned_text {
	struct text *t;
	int family;
	bool proxy, first;
	double now;
};

static void add_learned(void *ctx, const struct learned_addr *a)
{
	struct learned_text *lt = ctx;
	char ip[INET6_ADDRSTRLEN];

	if (a->family != lt->family || a->proxy != lt->proxy)
		return;
	inet_ntop(a->family, a->addr, ip, sizeof(ip));
	text_add(lt->t, "%s%s timeout %us", lt->first ? "\t\telements = { " : ", ", ip,
		 timeout_left(a, lt->now));
	lt->first = false;
}

/* The four sets of learned addresses, with what the table holds now. */
static void add_learned_sets(struct text *t, const struct firewall_spec *spec)
{
	for (int k = 0; k < 4; k++) {
		struct learned_text lt = { t, k & 1 ? AF_INET6 : AF_INET, k >= 2, true, spec->now };
		text_add(t, "\tset learn_%s%c {\n\t\ttype %s\n\t\tflags timeout\n",
			 lt.proxy ? "proxy" : "bypass", lt.family == AF_INET ? '4' : '6',
			 lt.family == AF_INET ? "ipv4_addr" : "ipv6_addr");
		if (spec->learned)
			learned_each((struct learned *)spec->learned, 0, add_learned, NULL, &lt);
		text_add(t, "%s\t}\n", lt.first ? "" : " }\n");
	}
}

/* The end every capturing chain shares: proxy-domains' addresses are captured even
 * inside a bypass network, the bypassed destinations (and with lan the LAN) are left
 * alone, the rest is captured. v4 / v6: the statements that capture a packet of that
 * family (a verdict, or ending in return; NULL: that family is not captured). */
static void add_capture_tail(struct text *t, const char *v4, const char *v6, bool lan)
{
	if (v4)
		text_add(t, "\t\tip daddr @learn_proxy4 %s\n", v4);
	if (v6)
		text_add(t, "\t\tip6 daddr @learn_proxy6 %s\n", v6);
	text_add(t, "\t\tip daddr @learn_bypass4 return\n"
		 "\t\tip6 daddr @learn_bypass6 return\n"
		 "\t\tip daddr @bypass4 return\n"
		 "\t\tip6 daddr @bypass6 return\n"
		 "%s", lan ? "\t\tip daddr @lan4 return\n\t\tip6 daddr @lan6 return\n" : "");
	if (v4)
		text_add(t, "\t\tmeta nfproto ipv4 %s\n", v4);
	if (v6)
		text_add(t, "\t\tmeta nfproto ipv6 %s\n", v6);
}

/* Port 53 over UDP and TCP to the resolver's port (0: none), IPv4 and with ipv6 IPv6. */
static void add_dns_redirect(struct text *t, unsigned port, bool ipv6)
{
	for (int v6 = 0; port && v6 <= (ipv6 ? 1 : 0); v6++)
		text_add(t, "\t\tmeta nfproto ipv%c udp dport 53 redirect to :%u\n"
			 "\t\tmeta nfproto ipv%c tcp dport 53 redirect to :%u\n",
			 v6 ? '6' : '4', port, v6 ? '6' : '4', port);
}

/* TCP to port 53 left to add_dns_redirect's rules, for the families they redirect. */
static void add_dns_skip(struct text *t, unsigned port, bool ipv6)
{
	for (int v6 = 0; port && v6 <= (ipv6 ? 1 : 0); v6++)
		text_add(t, "\t\tmeta nfproto ipv%c tcp dport 53 return\n", v6 ? '6' : '4');
}

/* The LAN's ranges of one family (gateway.lan). */
static void add_lan_set(struct text *t, const struct config *cfg, int family)
{
	bool first = true;

	text_add(t, "\tset lan%c {\n\t\ttype %s\n\t\tflags interval\n\t\tauto-merge\n",
		 family == AF_INET ? '4' : '6', family == AF_INET ? "ipv4_addr" : "ipv6_addr");
	for (size_t i = 0; i < cfg->gateway.lan.n; i++) {
		if (cfg->gateway.lan.v[i].family != family)
			continue;
		text_add(t, "%s", first ? "\t\telements = { " : "");
		add_cidr(t, &cfg->gateway.lan.v[i], &first);
	}
	text_add(t, "%s\t}\n", first ? "" : " }\n");
}

/* What the LAN sends around the capture (bypassed, or let through) leaves with the
 * machine's address: not what goes to the LAN itself, our own traffic or into the tun. */
static void add_masquerade(struct text *t, const struct firewall_spec *spec)
{
	char oif[32] = "";

	if (spec->tun_ifindex)
		snprintf(oif, sizeof(oif), "oif != %u ", spec->tun_ifindex);
	text_add(t, "\tchain postrouting {\n"
		 "\t\ttype nat hook postrouting priority 100; policy accept;\n"
		 "\t\tip saddr @lan4 ip daddr != @lan4 fib saddr type != local %smasquerade\n"
		 "\t\tip6 saddr @lan6 ip6 daddr != @lan6 fib saddr type != local %smasquerade\n"
		 "\t}\n", oif, oif);
}

/* Redirect mode's gateway: the LAN's TCP and DNS redirected like the machine's own in
 * the output chain (REDIRECT in prerouting sends it to the incoming interface's address,
 * where a wildcard listener takes it; redirect NULL: the LAN's TCP goes through TPROXY,
 * add_lan_tcp_chain); the kill switch for what is forwarded. */
static void add_gateway_chains(struct text *t, const struct firewall_spec *spec,
			       const char *redirect)
{
	text_add(t, "\tchain prerouting {\n"
		 "\t\ttype nat hook prerouting priority -100; policy accept;\n"
		 "\t\tip saddr @lan4 jump lan_prerouting\n"
		 "\t\tip6 saddr @lan6 jump lan_prerouting\n"
		 "\t}\n"
		 "\tchain lan_prerouting {\n");
	add_dns_redirect(t, spec->dns_port, spec->gateway_dns_ipv6);
	if (redirect) { /* else its TCP goes through TPROXY: add_lan_tcp_chain */
		text_add(t, "\t\tmeta l4proto != tcp return\n"
			 "\t\tfib daddr type local return\n");
		add_capture_tail(t, redirect, spec->gateway_ipv6 ? redirect : NULL, true);
	}
	text_add(t, "\t}\n");
	/* Redirected packets are local by now: what is forwarded was neither redirected
	 * nor is it bypassed or for the LAN, so it is refused. */
	if (spec->cfg->rules.block_uncaptured)
		text_add(t, "\tchain forward {\n"
			 "\t\ttype filter hook forward priority 0; policy accept;\n"
			 "\t\tip saddr @lan4 jump lan_forward\n"
			 "\t\tip6 saddr @lan6 jump lan_forward\n"
			 "\t}\n"
			 "\tchain lan_forward {\n"
			 "\t\tfib daddr type { broadcast, multicast } return\n"
			 "\t\tip daddr 169.254.0.0/16 return\n"
			 "\t\tip6 daddr fe80::/10 return\n");
	if (spec->cfg->rules.block_uncaptured)
		add_refuse_tail(t, true);
	add_masquerade(t, spec);
}

/* The rules handing proto ("udp", "tcp") to the transparent sockets at to4 / to6, one
 * per family that has one (NULL: none): match4 / match6 select the packets, mark (0: none)
 * is set on them and the rule accepts. net_ntop's "[::1]:1111" is nft's syntax for an IPv6
 * address and port, too. */
static void add_tproxy(struct text *t, const char *proto, const struct sockaddr_storage *to4,
		       const struct sockaddr_storage *to6, const char *match4, const char *match6,
		       uint32_t mark)
{
	const struct sockaddr_storage *to[2] = { to4, to6 };
	const char *match[2] = { match4, match6 }, *fam[2] = { "ip", "ip6" };
	char a[NET_ADDRSTRLEN];

	for (int i = 0; i < 2; i++) {
		if (!to[i])
			continue;
		text_add(t, "\t\t%s meta l4proto %s", match[i], proto);
		if (mark) /* first: should tproxy find no socket, the policy route still
			   * delivers the packet locally, never forwarding it */
			text_add(t, " meta mark set 0x%x", mark);
		text_add(t, " tproxy %s to %s%s\n", fam[i], net_ntop(to[i], a, sizeof(a)),
			 mark ? " accept" : "");
	}
}

/* The gateway's LAN: its UDP to captured destinations is handed to the transparent
 * sockets right in prerouting, and marked so the policy route delivers it locally
 * instead of forwarding it (DNS is left to the nat chain's redirect, what the LAN sends
 * to itself, to the machine or around the capture to forwarding). */
static void add_lan_udp_chain(struct text *t, const struct firewall_spec *spec)
{
	text_add(t, "\tchain lan_udp {\n"
		 "\t\tmeta l4proto != udp return\n");
	if (spec->dns_port)
		text_add(t, "\t\tudp dport 53 return\n");
	text_add(t, "\t\tfib daddr type { local, broadcast, multicast } return\n"
		 "\t\tip daddr 169.254.0.0/16 return\n"
		 "\t\tip6 daddr fe80::/10 return\n"
		 "\t\tudp dport { 67, 547 } return\n");
	add_tproxy(t, "udp", spec->udp4, spec->udp6, "ip daddr @learn_proxy4",
		   "ip6 daddr @learn_proxy6", spec->tproxy_mark);
	text_add(t, "\t\tip daddr @learn_bypass4 return\n"
		 "\t\tip6 daddr @learn_bypass6 return\n"
		 "\t\tip daddr @bypass4 return\n"
		 "\t\tip6 daddr @bypass6 return\n"
		 "\t\tip daddr @lan4 return\n"
		 "\t\tip6 daddr @lan6 return\n");
	add_tproxy(t, "udp", spec->udp4, spec->udp6, "meta nfproto ipv4", "meta nfproto ipv6",
		   spec->tproxy_mark);
	text_add(t, "\t}\n");
}

/* The prerouting chain handing what carries the TPROXY mark and is proto to the
 * transparent sockets at to4 / to6; with lan_chain, the LAN's sources jump there first. */
static void add_tproxy_chain(struct text *t, const struct firewall_spec *spec, const char *proto,
			     const struct sockaddr_storage *to4, const struct sockaddr_storage *to6,
			     const char *lan_chain)
{
	text_add(t, "\tchain %s_tproxy {\n"
		 "\t\ttype filter hook prerouting priority mangle; policy accept;\n", proto);
	if (lan_chain)
		text_add(t, "\t\tip saddr @lan4 jump %s\n"
			 "\t\tip6 saddr @lan6 jump %s\n", lan_chain, lan_chain);
	text_add(t, "\t\tmeta mark != 0x%x return\n"
		 "\t\tmeta l4proto != %s return\n", spec->tproxy_mark, proto);
	add_tproxy(t, proto, to4, to6, "meta nfproto ipv4", "meta nfproto ipv6", 0);
	text_add(t, "\t}\n");
}

/* With capture.cgroups, a chain of the output path acts only on the groups' sockets: its
 * base chain sends them on to NAME_cg, which the rest of the chain's rules go into, and
 * lets every other packet go. */
static void add_cgroup_guard(struct text *t, const struct firewall_spec *spec, const char *name)
{
	size_t n = cgroups_count(spec->cgroups);

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		text_add(t, "\t\tsocket cgroupv2 level %u \"%s\" goto %s_cg\n",
			 cgroups_level(spec->cgroups, i), cgroups_nft_path(spec->cgroups, i), name);
	text_add(t, "\t\treturn\n\t}\n\tchain %s_cg {\n", name);
}

/* The head of PROTO_route, the output route chain that marks the machine's own PROTO
 * for TPROXY: only the capture.cgroups' sockets (when set), never another protocol nor
 * snet-tun's own marked sockets. */
static void open_route_chain(struct text *t, const struct firewall_spec *spec, const char *proto)
{
	char name[16];

	snprintf(name, sizeof(name), "%s_route", proto);
	text_add(t, "\tchain %s {\n"
		 "\t\ttype route hook output priority mangle; policy accept;\n", name);
	add_cgroup_guard(t, spec, name);
	text_add(t, "\t\tmeta l4proto != %s return\n"
		 "\t\tmeta mark 0x%x return\n", proto, spec->cfg->fwmark);
}

/* The machine's own UDP to captured destinations: marked in a route chain (before the
 * nat chain's DNS redirect, which it leaves alone), so the policy route sends it through
 * lo back into prerouting, where TPROXY gives it to our transparent socket. What the kill
 * switch lets pass uncaptured (local, broadcast, multicast, link-local, DHCP) and our own
 * marked sockets stay out, as do the bypassed destinations. */
static void add_udp_chains(struct text *t, const struct firewall_spec *spec)
{
	const struct config *cfg = spec->cfg;
	char mark[48];

	snprintf(mark, sizeof(mark), "meta mark set 0x%x return", spec->tproxy_mark);
	open_route_chain(t, spec, "udp");
	add_user_scope(t, cfg);
	if (spec->dns_port)
		text_add(t, "\t\tudp dport 53 return\n");
	text_add(t, "\t\tfib daddr type { local, broadcast, multicast } return\n"
		 "\t\tip daddr 169.254.0.0/16 return\n"
		 "\t\tip6 daddr fe80::/10 return\n"
		 "\t\tudp sport 68 udp dport 67 return\n"
		 "\t\tudp dport 547 return\n");
	add_capture_tail(t, spec->udp4 ? mark : NULL, spec->udp6 ? mark : NULL, spec->gateway);
	text_add(t, "\t}\n");
	add_tproxy_chain(t, spec, "udp", spec->udp4, spec->udp6, spec->gateway ? "lan_udp" : NULL);
	if (spec->gateway)
		add_lan_udp_chain(t, spec);
}

/* The gateway's LAN with redirect.method tproxy: its TCP that lan_prerouting would
 * redirect (the same rules) is handed to the transparent listener right in prerouting and
 * marked, so the policy route delivers it locally instead of forwarding it; as for the
 * machine's own, the first packet's decision is kept in the ct mark for the later ones.
 * Port 53 is left to lan_prerouting's DNS redirect. */
static void add_lan_tcp_chain(struct text *t, const struct firewall_spec *spec)
{
	const struct sockaddr_storage *to[2] = { spec->tcp4, spec->tcp6 };
	char v[2][160], a[NET_ADDRSTRLEN], again[2][48];

	for (int i = 0; i < 2; i++) {
		if (!to[i])
			continue;
		snprintf(v[i], sizeof(v[i]), "meta l4proto tcp ct mark set 0x%x meta mark set 0x%x "
			 "tproxy %s to %s accept", spec->tproxy_mark, spec->tproxy_mark,
			 i ? "ip6" : "ip", net_ntop(to[i], a, sizeof(a)));
		snprintf(again[i], sizeof(again[i]), "ct mark 0x%x meta nfproto ipv%c",
			 spec->tproxy_mark, i ? '6' : '4');
	}
	text_add(t, "\tchain lan_tcp {\n"
		 "\t\tmeta l4proto != tcp return\n"
		 "\t\tct direction reply return\n");
	add_tproxy(t, "tcp", to[0], to[1], again[0], again[1], spec->tproxy_mark);
	text_add(t, "\t\tct state != new return\n");
	add_dns_skip(t, spec->dns_port, spec->gateway_dns_ipv6);
	text_add(t, "\t\tfib daddr type local return\n");
	add_capture_tail(t, to[0] ? v[0] : NULL, to[1] ? v[1] : NULL, true);
	text_add(t, "\t}\n");
}

/* redirect.method tproxy: the machine's own TCP that the output chain would redirect
 * (the same exclusions, in the same order) is marked in a route chain, so the policy
 * route sends it through lo back into prerouting, where TPROXY gives it to the
 * transparent listener with its addresses unchanged. The decision is the connection's:
 * its first packet's is kept in the ct mark and its later packets follow it, as a NAT
 * binding would (a learned address expiring or a reload does not move a live
 * connection), and connections that were open before are left alone, as nat leaves
 * them. Replies (our listener's packets) are never marked. */
static void add_tcp_tproxy(struct text *t, const struct firewall_spec *spec)
{
	const struct config *cfg = spec->cfg;
	char mark[80];

	snprintf(mark, sizeof(mark), "meta mark set 0x%x ct mark set 0x%x return",
		 spec->tproxy_mark, spec->tproxy_mark);
	open_route_chain(t, spec, "tcp");
	text_add(t, "\t\tct direction reply return\n"
		 "\t\tct mark 0x%x meta mark set 0x%x return\n"
		 "\t\tct state != new return\n", spec->tproxy_mark, spec->tproxy_mark);
	add_user_scope(t, cfg);
	add_dns_skip(t, spec->dns_port, spec->dns_ipv6);
	text_add(t, "\t\tfib daddr type local return\n");
	add_capture_tail(t, spec->tcp4 ? mark : NULL, spec->tcp6 ? mark : NULL, spec->gateway);
	text_add(t, "\t}\n");
	add_tproxy_chain(t, spec, "tcp", spec->tcp4, spec->tcp6, spec->gateway ? "lan_tcp" : NULL);
	if (spec->gateway)
		add_lan_tcp_chain(t, spec);
}

/* What carries the TPROXY mark is meant for lo (the policy route of tun/nltproxy.h):
 * should that route be missing, it is dropped here, never sent out around the capture
 * (the kill switch lets the mark pass). */
static void add_tproxy_guard(struct text *t, const struct firewall_spec *spec)
{
	text_add(t, "\tchain tproxy_guard {\n"
		 "\t\ttype filter hook postrouting priority 0; policy accept;\n"
		 "\t\tmeta mark 0x%x oif != \"lo\" counter drop\n"
		 "\t}\n", spec->tproxy_mark);
}

/* The nat chain of the output hook: port-53 traffic to the resolver and, with redirect
 * (the statement, NULL with TCP through TPROXY), the machine's own TCP to the listener. */
static void add_output_chain(struct text *t, const struct firewall_spec *spec,
			     const char *redirect)
{
	const struct config *cfg = spec->cfg;

	text_add(t, "\tchain output {\n"
		 "\t\ttype nat hook output priority -100; policy accept;\n");
	add_cgroup_guard(t, spec, "output");
	text_add(t, "\t\tmeta mark 0x%x return\n", cfg->fwmark);
	add_user_scope(t, cfg);
	/* Every other DNS query, to any address, goes to our resolver. */
	add_dns_redirect(t, spec->dns_port, spec->dns_ipv6);
	if (redirect) {
		text_add(t, "\t\tmeta l4proto != tcp return\n"
			 "\t\tfib daddr type local return\n");
		/* With the gateway the machine's own connections to its LAN stay local. */
		add_capture_tail(t, redirect, spec->ipv6 ? redirect : NULL, spec->gateway);
	}
	text_add(t, "\t}\n");
}

char *firewall_render(const struct firewall_spec *spec)
{
	const struct config *cfg = spec->cfg;
	struct text t = { 0 };
	bool tcp_tproxy = spec->tcp4 || spec->tcp6, tproxy = tcp_tproxy || spec->udp4 || spec->udp6;
	char tproxy_pass[64] = ""; /* the kill switch lets what is marked for TPROXY go */
	char redirect[64];

	if (tproxy)
		snprintf(tproxy_pass, sizeof(tproxy_pass), "\t\tmeta mark 0x%x return\n",
			 spec->tproxy_mark);
	snprintf(redirect, sizeof(redirect), "meta l4proto tcp redirect to :%u", spec->redirect_port);

	text_add(&t, "table inet " FIREWALL_TABLE " {}\ndelete table inet " FIREWALL_TABLE "\n");
	text_add(&t, "table inet " FIREWALL_TABLE " {\n");
	if (spec->gateway) {
		add_lan_set(&t, cfg, AF_INET);
		add_lan_set(&t, cfg, AF_INET6);
	}
	if (spec->tun_ifindex) { /* tun mode: the masquerade and the cgroups' mark alone */
		if (spec->gateway)
			add_masquerade(&t, spec);
		if (cgroups_count(spec->cgroups)) {
			text_add(&t, "\tchain cgroup_mark {\n"
				 "\t\ttype route hook output priority mangle; policy accept;\n"
				 "\t\tmeta mark != 0 return\n");
			for (size_t i = 0; i < cgroups_count(spec->cgroups); i++)
				text_add(&t, "\t\tsocket cgroupv2 level %u \"%s\" meta mark set 0x%x\n",
					 cgroups_level(spec->cgroups, i),
					 cgroups_nft_path(spec->cgroups, i), spec->cgroup_mark);
			text_add(&t, "\t}\n");
		}
		text_add(&t, "}\n");
		return t.s;
	}
	add_set(&t, cfg, AF_INET);
	add_set(&t, cfg, AF_INET6);
	add_learned_sets(&t, spec);
	if (tcp_tproxy)
		add_tcp_tproxy(&t, spec);
	if (!tcp_tproxy || spec->dns_port) /* else nothing to redirect: no nat chain */
		add_output_chain(&t, spec, tcp_tproxy ? NULL : redirect);
	/* The kill switch: what was neither redirected (its destination is local now) nor
	 * bypassed is refused, not sent out around the proxy. Link-local, broadcast and
	 * multicast traffic and DHCP stay: they never leave the LAN. So do the replies of
	 * connections others opened to us (the LAN's, redirected to our listeners, too)
	 * and, with the gateway, what goes to the LAN. */
	if (cfg->rules.block_uncaptured) {
		text_add(&t, "\tchain filter {\n"
			 "\t\ttype filter hook output priority 0; policy accept;\n");
		add_cgroup_guard(&t, spec, "filter");
		text_add(&t, "\t\tmeta mark 0x%x return\n"
			 "\t\tct direction reply return\n", cfg->fwmark);
		add_user_scope(&t, cfg); /* the users not captured are not refused either */
		text_add(&t, "%s%s"
			 "\t\tfib daddr type { local, broadcast, multicast } return\n"
			 "\t\tip daddr 169.254.0.0/16 return\n"
			 "\t\tip6 daddr fe80::/10 return\n"
			 "\t\tudp sport 68 udp dport 67 return\n"
			 "\t\tudp dport 547 return\n",
			 tproxy_pass,
			 spec->gateway ? "\t\tip daddr @lan4 return\n\t\tip6 daddr @lan6 return\n" : "");
		add_refuse_tail(&t, false);
	}
	if (spec->udp4 || spec->udp6)
		add_udp_chains(&t, spec);
	if (tproxy)
		add_tproxy_guard(&t, spec);
	if (spec->gateway)
		add_gateway_chains(&t, spec, tcp_tproxy ? NULL : redirect);
	text_add(&t, "}\n");
	return t.s;
}

/* One context for the process, made at the first install (at start-up): libnftables
 * waits on its netlink socket with select(), which aborts on a descriptor >= FD_SETSIZE,
 * and with thousands of relayed connections open a context made later would get one. */
static struct nft_ctx *ctx;

void firewall_close(void)
{
	if (ctx)
		nft_ctx_free(ctx);
	ctx = NULL;
}

/* Runs one nft script as one transaction. 0 or -1 with nft's message in err. */
static int nft_run(const char *script, char *err, size_t errlen)
{
	int rc;

	if (!ctx)
		ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		snprintf(err, errlen, "nftables: cannot create context");
		return -1;
	}
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	rc = nft_run_cmd_from_buffer(ctx, script);
	if (rc != 0) {
		const char *msg = nft_ctx_get_error_buffer(ctx);
		size_t n;

		snprintf(err, errlen, "nftables: %s", msg && *msg ? msg : "command failed");
		n = strlen(err);
		while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
			err[--n] = 0;
		for (char *p = err; *p; p++) {
			if (*p == '\n')
				*p = ' ';
		}
	}
	nft_ctx_unbuffer_output(ctx);
	nft_ctx_unbuffer_error(ctx);
	return rc == 0 ? 0 : -1;
}

int firewall_install(const struct firewall_spec *spec, char *err, size_t errlen)
{
	char *script = firewall_render(spec);
	int rc;

	if (!script) {
		snprintf(err, errlen, "nftables: out of memory building the ruleset");
		return -1;
	}
	rc = nft_run(script, err, errlen);
	free(script);
	return rc;
}

int firewall_learn(const struct learned_addr *v, size_t n, double now, char *err, size_t errlen)
{
	struct text t = { 0 };
	int rc;

	for (size_t i = 0; i < n; i++) {
		char ip[INET6_ADDRSTRLEN];
		char c = v[i].family == AF_INET ? '4' : '6';
		const char *kind = v[i].proxy ? "proxy" : "bypass", *other = v[i].proxy ? "bypass" : "proxy";

		inet_ntop(v[i].family, v[i].addr, ip, sizeof(ip));
		/* add-delete-add: whether or not it is there (or has just expired), it ends
		 * up there once, with the new timeout; and it is gone from the other set. */
		text_add(&t, "add element inet " FIREWALL_TABLE " learn_%s%c { %s }\n"
			 "delete element inet " FIREWALL_TABLE " learn_%s%c { %s }\n"
			 "add element inet " FIREWALL_TABLE " learn_%s%c { %s }\n"
			 "delete element inet " FIREWALL_TABLE " learn_%s%c { %s }\n"
			 "add element inet " FIREWALL_TABLE " learn_%s%c { %s timeout %us }\n",
			 other, c, ip, other, c, ip, kind, c, ip, kind, c, ip, kind, c, ip,
			 timeout_left(&v[i], now));
	}
	if (!t.s)
		return n ? (snprintf(err, errlen, "nftables: out of memory"), -1) : 0;
	rc = nft_run(t.s, err, errlen);
	free(t.s);
	return rc;
}

int firewall_remove(char *err, size_t errlen)
{
	return nft_run("table inet " FIREWALL_TABLE " {}\ndelete table inet " FIREWALL_TABLE "\n",
		       err, errlen);
}
