/* capture_redirect.c -- redirect mode as a capture: the listener (redirect.c) plus the
 * nftables table (firewall.c) when redirect.install-rules is on. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "capture.h"
#include "config.h"
#include "firewall.h"
#include "redirect.h"
#include "../dns/server.h"

struct capture_redirect {
	struct redirect *rd;
	struct dns_server *dns;
	bool rules;
};

static int install(struct capture_redirect *c, const struct config *cfg, char *err, size_t errlen)
{
	struct firewall_spec spec = {
		.cfg = cfg,
		.redirect_port = (uint16_t)redirect_port(c->rd),
		.ipv6 = redirect_has_ipv6(c->rd),
		.dns_port = c->dns ? dns_server_port(c->dns) : 0,
		.dns_ipv6 = c->dns && dns_server_has_ipv6(c->dns),
	};
	return firewall_install(&spec, err, errlen);
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
	c->rd = redirect_new(loop, relay, &cfg->redirect, err, errlen);
	if (!c->rd)
		goto fail;
	if (cfg->redirect.install_rules) {
		if (install(c, cfg, err, errlen) < 0)
			goto fail;
		c->rules = true;
	}
	return c;
fail:
	redirect_free(c->rd);
	free(c);
	firewall_close();
	return NULL;
}

static int cr_reload(void *priv, const struct config *cfg, char *err, size_t errlen)
{
	struct capture_redirect *c = priv;

	return c->rules ? install(c, cfg, err, errlen) : 0;
}

static const char *cr_describe(void *priv, char *buf, size_t len)
{
	struct capture_redirect *c = priv;
	char where[200];

	snprintf(buf, len, "mode redirect, listening on %s, rules %s",
		 redirect_describe(c->rd, where, sizeof(where)),
		 c->rules ? "installed (table inet " FIREWALL_TABLE ")" : "not installed");
	return buf;
}

static int cr_stop_capture(void *priv, char *err, size_t errlen)
{
	struct capture_redirect *c = priv;

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
	redirect_free(c->rd);
	free(c);
	firewall_close();
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
	.describe = cr_describe,
	.stop_capture = cr_stop_capture,
	.free = cr_free,
	.cleanup = cr_cleanup,
};

const struct capture_ops *capture_ops_for(const struct config *cfg)
{
	return cfg->mode == MODE_REDIRECT ? &capture_redirect_ops : &capture_tun_ops;
}
