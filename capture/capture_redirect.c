/* capture_redirect.c -- redirect mode as a capture: the listener (redirect.c) plus the
 * nftables table (firewall.c) when redirect.install-rules is on. */
#include <ev.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture/capture.h"
#include "base/config.h"
#include "capture/firewall.h"
#include "capture/gateway.h"
#include "capture/learned.h"
#include "base/log.h"
#include "capture/redirect.h"
#include "dns/server.h"

struct capture_redirect {
	struct redirect *rd;
	struct dns_server *dns;
	struct ev_loop *loop;
	struct learned *learned; /* what the learn_* sets hold, to put back after a reload */
	bool rules;
	bool gateway; /* gateway.enable at start (it needs a restart to change) */
	struct gateway_fwd fwd; /* forwarding we turned on, restored at exit */
};

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
	};
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
	if (cfg->redirect.install_rules) {
		if (install(c, cfg, err, errlen) < 0)
			goto fail;
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
fail:
	gateway_fwd_restore(&c->fwd, NULL, 0);
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

	snprintf(buf, len, "mode redirect, listening on %s, rules %s%s",
		 redirect_describe(c->rd, where, sizeof(where)),
		 c->rules ? "installed (table inet " FIREWALL_TABLE ")" : "not installed",
		 c->gateway ? ", gateway for gateway.lan" : "");
	return buf;
}

static void cr_stats(void *priv, char *buf, size_t len)
{
	struct capture_redirect *c = priv;

	snprintf(buf, len, "learned %zu", learned_count(c->learned));
}

static int cr_stop_capture(void *priv, char *err, size_t errlen)
{
	struct capture_redirect *c = priv;
	char why[256];

	/* Forwarding first, so the LAN's traffic does not go out uncaptured meanwhile. */
	if (gateway_fwd_restore(&c->fwd, why, sizeof(why)) < 0)
		log_warn("%s", why);
	if (!c->rules)
		return 0;
	c->rules = false;
	return firewall_remove(err, errlen);
}

static void cr_free(void *priv)
{
	struct capture_redirect *c = priv;

	if (!c)
		return;
	gateway_fwd_restore(&c->fwd, NULL, 0);
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
	int rc;

	(void)cfg;
	rc = firewall_remove(err, errlen);
	firewall_close();
	return rc;
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
