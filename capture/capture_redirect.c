/* capture_redirect.c -- redirect mode as a capture: the TCP listener (redirect.c), the
 * UDP sockets TPROXY feeds (udp_tproxy.c), plus the nftables table (firewall.c) and
 * TPROXY's policy route (tun/nltproxy.h, for UDP and with redirect.method tproxy for
 * TCP) when redirect.install-rules is on. */
#include <ev.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture/capture.h"
#include "capture/cgroup.h"
#include "base/config.h"
#include "capture/firewall.h"
#include "capture/gateway.h"
#include "capture/learned.h"
#include "base/log.h"
#include "capture/redirect.h"
#include "capture/udp_tproxy.h"
#include "dns/server.h"
#include "tun/nltproxy.h"

#define TPROXY_TABLE 0x5352 /* TPROXY's local default routes (21330) */
#define TPROXY_RULE_PRIORITY 5190 /* its rule: before tun mode's (5200..), should both run */

struct capture_redirect {
	struct redirect *rd;
	struct dns_server *dns;
	struct ev_loop *loop;
	struct learned *learned; /* what the learn_* sets hold, to put back after a reload */
	bool rules;
	bool gateway; /* gateway.enable at start (it needs a restart to change) */
	struct gateway_fwd fwd; /* forwarding we turned on, restored at exit */
	struct udp_tproxy *udp; /* NULL: no transparent socket could be opened */
	bool tcp_tproxy; /* redirect.method tproxy at start (it needs a restart to change) */
	bool tproxy_routes; /* TPROXY's policy route is installed */
	uint32_t tproxy_mark;
	struct cgroups *cgroups; /* capture.cgroups (those we created go at exit) */
};

/* The mark for UDP and TCP on their way to TPROXY: next to fwmark, never equal to it. */
static uint32_t tproxy_mark_for(const struct config *cfg)
{
	return cfg->fwmark == 0xffffffffu ? cfg->fwmark - 1 : cfg->fwmark + 1;
}

static struct nl_tproxy tproxy_routes_spec(uint32_t mark, bool ipv6)
{
	return (struct nl_tproxy){ .mark = mark, .table = TPROXY_TABLE,
				   .priority = TPROXY_RULE_PRIORITY, .ipv6 = ipv6 };
}

/* Removes TPROXY's policy route (both families; what is missing is fine) after a step
 * that returned rc: its error goes to err unless rc already failed (then it is logged).
 * The combined result. */
static int tproxy_routes_remove(uint32_t mark, int rc, char *err, size_t errlen)
{
	struct nl_tproxy r = tproxy_routes_spec(mark, true);
	char why[256];

	if (nl_tproxy_remove(&r, rc < 0 ? why : err, rc < 0 ? sizeof(why) : errlen) < 0) {
		if (rc < 0)
			log_warn("%s", why);
		return -1;
	}
	return rc;
}

/* The listener address of that family among v (NULL: none). */
static const struct sockaddr_storage *addr_of(int family, const struct sockaddr_storage *v,
					      int n)
{
	for (int i = 0; i < n; i++) {
		if (v[i].ss_family == family)
			return &v[i];
	}
	return NULL;
}

/* Whether TPROXY's policy route is wanted for IPv6: a transparent socket of that family. */
static bool tproxy_ipv6(struct capture_redirect *c)
{
	return (c->udp && udp_tproxy_has(c->udp, AF_INET6)) ||
	       (c->tcp_tproxy && redirect_has_ipv6(c->rd));
}

static int install(struct capture_redirect *c, const struct config *cfg, char *err, size_t errlen)
{
	struct firewall_spec spec = {
		.cfg = cfg,
		.redirect_port = (uint16_t)redirect_port(c->rd),
		.ipv6 = redirect_has_ipv6(c->rd),
		.dns_port = c->dns ? dns_server_port(c->dns) : 0,
		.dns_ipv6 = c->dns && dns_server_has_ipv6(c->dns),
		.learned = c->learned,
		.now = ev_now(c->loop),
		.gateway = c->gateway,
		.gateway_ipv6 = redirect_has_gateway_ipv6(c->rd),
		.gateway_dns_ipv6 = c->dns && dns_server_has_gateway_ipv6(c->dns),
		.tproxy_mark = c->tproxy_mark,
		.cgroups = c->cgroups,
	};
	struct sockaddr_storage addrs[2];
	int na = redirect_local_addrs(c->rd, addrs, 2);

	/* TCP goes to the transparent listeners with redirect.method tproxy (else NULL:
	 * redirected) */
	if (c->tcp_tproxy) {
		spec.tcp4 = addr_of(AF_INET, addrs, na);
		spec.tcp6 = addr_of(AF_INET6, addrs, na);
	}
	/* UDP to the transparent sockets of each family, while the upstream carries it;
	 * else the kill switch refuses it. */
	if (c->udp && udp_tproxy_enabled(c->udp)) {
		if (udp_tproxy_has(c->udp, AF_INET))
			spec.udp4 = addr_of(AF_INET, addrs, na);
		if (udp_tproxy_has(c->udp, AF_INET6))
			spec.udp6 = addr_of(AF_INET6, addrs, na);
	}
	learned_each(c->learned, ev_now(c->loop), NULL, NULL, NULL); /* drop what expired */
	/* One line with the time the whole table took (built, parsed and committed). */
	struct timespec t0, t1;
	struct cidr server;
	size_t n = cfg->rules.bypass_cidrs.n +
		   (cfg->rules.scope == SCOPE_BYPASS_CN ? cfg->rules.cn_cidrs.n : 0);
	int rc;

	for (size_t i = 0; i < cfg->n_proxies; i++)
		n += cfg->proxies[i].type != PROXY_TYPE_DIRECT &&
		     cidr_parse(cfg->proxies[i].server, &server) == 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = firewall_install(&spec, err, errlen);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == 0)
		log_info("rules: %zu bypass networks applied in %.1f ms (nft table inet "
			 FIREWALL_TABLE ")", n, (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			 (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return rc;
}

/* The gateway's forwarding, for the LAN's families the capture takes (IPv6 only with a
 * listener for the LAN's IPv6 connections). */
static int forwarding_on(struct capture_redirect *c, const struct config *cfg, char *err,
			 size_t errlen)
{
	if (!c->gateway)
		return 0;
	return gateway_fwd_on(&c->fwd, gateway_lan_has(&cfg->gateway.lan, AF_INET),
			      gateway_lan_has(&cfg->gateway.lan, AF_INET6) &&
				      redirect_has_gateway_ipv6(c->rd),
			      err, errlen);
}

/* The transparent UDP sockets at the listeners' addresses. Without them (no privilege
 * for IP_TRANSPARENT, say) redirect mode runs for TCP, and UDP is refused as before. */
static void udp_open(struct capture_redirect *c, struct ev_loop *loop, struct relay *relay,
		     const struct config *cfg)
{
	struct sockaddr_storage addrs[2];
	int na = redirect_local_addrs(c->rd, addrs, 2);
	char why[256];

	c->udp = udp_tproxy_new(loop, relay, addrs, na, cfg->fwmark, cfg->tun.udp_timeout,
				cfg->tun.udp_max_flows, why, sizeof(why));
	if (!c->udp)
		log_warn("%s; UDP will not be relayed (refused with rules.block-uncaptured)", why);
}

static void *cr_start(struct ev_loop *loop, struct relay *relay, struct dns_server *dns,
		      const struct config *cfg,
		      char *err, size_t errlen)
{
	struct capture_redirect *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errlen, "redirect: out of memory");
		return NULL;
	}
	c->dns = dns;
	c->loop = loop;
	c->gateway = cfg->gateway.enable;
	c->learned = learned_new();
	if (!c->learned) {
		snprintf(err, errlen, "redirect: out of memory");
		goto fail;
	}
	c->rd = redirect_new(loop, relay, &cfg->redirect, &cfg->gateway, err, errlen);
	if (!c->rd)
		goto fail;
	c->tcp_tproxy = cfg->redirect.method == REDIRECT_METHOD_TPROXY;
	c->tproxy_mark = tproxy_mark_for(cfg);
	udp_open(c, loop, relay, cfg);
	if (cfg->redirect.install_rules && (c->udp || c->tcp_tproxy)) {
		struct nl_tproxy r = tproxy_routes_spec(c->tproxy_mark, tproxy_ipv6(c));
		if (nl_tproxy_install(&r, err, errlen) < 0)
			goto fail;
		c->tproxy_routes = true;
	}
	if (cfg->redirect.install_rules) {
		/* The groups exist before the rules naming them are loaded. */
		c->cgroups = cgroups_open(cfg, err, errlen);
		if (!c->cgroups)
			goto fail_routes;
		if (install(c, cfg, err, errlen) < 0)
			goto fail_routes;
		c->rules = true;
	}
	/* After the rules: the LAN's traffic is never forwarded uncaptured. */
	if (forwarding_on(c, cfg, err, errlen) < 0)
		goto fail_rules;
	return c;
fail_rules:
	if (c->rules) {
		char why[256];
		if (firewall_remove(why, sizeof(why)) < 0)
			log_warn("%s", why);
	}
fail_routes:
	if (c->tproxy_routes) {
		struct nl_tproxy r = tproxy_routes_spec(c->tproxy_mark, true);
		char why[256];
		if (nl_tproxy_remove(&r, why, sizeof(why)) < 0)
			log_warn("%s", why);
	}
fail:
	cgroups_free(c->cgroups);
	gateway_fwd_restore(&c->fwd, NULL, 0);
	udp_tproxy_free(c->udp);
	redirect_free(c->rd);
	learned_free(c->learned);
	free(c);
	firewall_close();
	return NULL;
}

static int cr_reload(void *priv, const struct config *cfg, char *err, size_t errlen)
{
	struct capture_redirect *c = priv;

	if (c->gateway && redirect_set_lan(c->rd, &cfg->gateway) < 0) {
		snprintf(err, errlen, "redirect: out of memory");
		return -1;
	}
	if (c->rules && install(c, cfg, err, errlen) < 0)
		return -1;
	return forwarding_on(c, cfg, err, errlen);
}

static const char *cr_describe(void *priv, char *buf, size_t len)
{
	struct capture_redirect *c = priv;
	char where[200];

	snprintf(buf, len, "mode redirect, listening on %s%s, rules %s%s",
		 redirect_describe(c->rd, where, sizeof(where)),
		 c->tcp_tproxy ? " (TCP through TPROXY)" : "",
		 c->rules ? "installed (table inet " FIREWALL_TABLE ")" : "not installed",
		 c->gateway ? ", gateway for gateway.lan" : "");
	return buf;
}

static void cr_stats(void *priv, char *buf, size_t len)
{
	struct capture_redirect *c = priv;

	struct udp_tproxy_stats st = { 0 };

	if (c->udp)
		udp_tproxy_stats(c->udp, &st);
	snprintf(buf, len, "learned %zu udp-flows %llu udp-up %llu udp-down %llu udp-dropped %llu "
		 "udp-reply-sockets %llu", learned_count(c->learned),
		 (unsigned long long)st.flows_active, (unsigned long long)st.dgrams_up,
		 (unsigned long long)st.dgrams_down, (unsigned long long)st.dropped,
		 (unsigned long long)st.reply_socks);
}

static int cr_stop_capture(void *priv, char *err, size_t errlen)
{
	struct capture_redirect *c = priv;
	char why[256];
	int rc = 0;

	/* Forwarding first, so the LAN's traffic does not go out uncaptured meanwhile. */
	if (gateway_fwd_restore(&c->fwd, why, sizeof(why)) < 0)
		log_warn("%s", why);
	if (c->rules) {
		c->rules = false;
		if (firewall_remove(err, errlen) < 0)
			rc = -1;
	}
	/* After the rules: nothing is marked for it any more. */
	if (c->tproxy_routes) {
		c->tproxy_routes = false;
		rc = tproxy_routes_remove(c->tproxy_mark, rc, err, errlen);
	}
	return rc;
}

static void cr_free(void *priv)
{
	struct capture_redirect *c = priv;

	if (!c)
		return;
	cgroups_free(c->cgroups); /* after the rules naming them went */
	gateway_fwd_restore(&c->fwd, NULL, 0);
	udp_tproxy_free(c->udp);
	redirect_free(c->rd);
	learned_free(c->learned);
	free(c);
	firewall_close();
}

static void cr_learn(void *priv, bool proxy, const struct dns_learned *v, size_t n)
{
	struct capture_redirect *c = priv;
	struct learned_addr add[64];
	double now = ev_now(c->loop);
	size_t k = 0;
	char err[512];

	if (!c->rules)
		return;
	for (size_t i = 0; i < n && k < 64; i++) {
		struct learned_addr a = { .family = v[i].family, .proxy = proxy,
					  .expires = now + v[i].ttl };
		memcpy(a.addr, v[i].addr, 16);
		if (learned_put(c->learned, &a) > 0) /* new, changed or extended */
			add[k++] = a;
	}
	if (k && firewall_learn(add, k, now, err, sizeof(err)) < 0)
		log_warn("rules: learned addresses: %s", err);
}

static int cr_cleanup(const struct config *cfg, char *err, size_t errlen)
{
	int rc = firewall_remove(err, errlen);

	firewall_close();
	return tproxy_routes_remove(tproxy_mark_for(cfg), rc, err, errlen);
}

const struct capture_ops capture_redirect_ops = {
	.name = "redirect",
	.start = cr_start,
	.reload = cr_reload,
	.learn = cr_learn,
	.describe = cr_describe,
	.stats = cr_stats,
	.stop_capture = cr_stop_capture,
	.free = cr_free,
	.cleanup = cr_cleanup,
};

const struct capture_ops *capture_ops_for(const struct config *cfg)
{
	return cfg->mode == MODE_REDIRECT ? &capture_redirect_ops : &capture_tun_ops;
}
