/* capture_tun.c -- tun mode as a capture: the tun device (tun/tun.c), its link settings
 * and policy routes (tun/netlink.c), and lwIP on top of it (netstack/); and `--setup`,
 * which leaves a persistent device and its routes for an unprivileged user's runs.
 *
 * Attached to a persistent device that is already configured and routed (by --setup),
 * a run leaves the link and the routes as they are and does not remove them at exit:
 * that is what lets it run without CAP_NET_ADMIN.
 *
 * Failing closed: with auto-route and rules.block-uncaptured, a run keeps its device
 * persistent (marked with NL_ALIAS_KEPT) while it runs, so a crash leaves the device, its
 * routes and rules in place: what they send into the tun goes nowhere instead of around
 * it. The next start finds the mark, takes the routes over without a gap
 * (nl_routes_adopt) and, like a clean exit, lets the device go at the end; --cleanup
 * removes it all. */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netstack/netstack.h"
#include "proxy/proxy.h"
#include "base/cidrset.h"
#include "dns/server.h"
#include "tun/netlink.h"
#include "tun/nllink.h"
#include "tun/nlhost.h"
#include "tun/tun.h"
#include "capture/capture.h"
#include "base/config.h"
#include "capture/cgroup.h"
#include "capture/firewall.h"
#include "capture/gateway.h"
#include "base/log.h"
#include "capture/learned.h"
#include "base/privdrop.h"
#include "base/util.h"

#define TUN_TABLE 0x534e /* our routing table (21326) */
#define TUN_TABLE2 0x534f /* its twin (21327): each reload swaps to the idle one */
#define TUN_RULE_PRIORITY 5200 /* our ip rules use 5200..5203 */

struct capture_tun {
	struct tun *tun;
	struct netstack *ns;
	bool routes; /* installed by us: removed at exit */
	bool setup_routes; /* found in place on a persistent device: left alone */
	bool leftover; /* attached to the device a run that died kept (NL_ALIAS_KEPT) */
	bool kept; /* persistent while we run (fail closed on a crash): released at exit */
	struct nl_routes spec;
	struct cidr *bypass; /* spec's arrays, owned here */
	uint32_t *uids, *exclude;
	struct cidr *lan;
	unsigned mtu;
	struct ev_loop *loop;
	struct learned *learned; /* host routes for DNS-learned addresses, in our table */
	struct cidrset *static_bypass; /* spec.bypass as a set: learned routes must not undo it */
	ev_timer expire; /* removes their routes when their records run out */
	bool gateway; /* gateway.enable (at start; it needs a restart to change) */
	bool masquerade; /* nft table inet snet_tun (masquerade, cgroups' mark) is installed */
	struct cgroups *cgroups; /* capture.cgroups (those we created go at exit) */
	struct gateway_fwd fwd; /* forwarding we turned on, restored at exit */
	struct dns_server *dns; /* answers every query sent into the tun */
	char gone[192]; /* the device is gone: why (the loop was stopped) */
};

static void spec_free(struct capture_tun *c)
{
	free(c->bypass);
	free(c->uids);
	free(c->exclude);
	free(c->lan);
	c->bypass = c->lan = NULL;
	c->uids = c->exclude = NULL;
}

static int learned_fill(uint32_t table, void *arg, char *err, size_t errlen);

/* The mark for capture.cgroups' packets: two from fwmark (fwmark+1 is redirect mode's
 * UDP mark), never equal to either. */
static uint32_t cgroup_mark_for(const struct config *cfg)
{
	return cfg->fwmark >= 0xfffffffdu ? cfg->fwmark - 2 : cfg->fwmark + 2;
}

/* Fills c->spec from cfg: what stays out of the tun, whose traffic goes in. */
static int spec_build(struct capture_tun *c, const struct config *cfg, const char *ifname,
		      char *err, size_t errlen)
{
	const struct config_rules *r = &cfg->rules;
	size_t n = 0, cap = r->bypass_cidrs.n + cfg->n_proxies + 1 +
				(r->scope == SCOPE_BYPASS_CN ? r->cn_cidrs.n : 0);
	struct cidr *v = calloc(cap, sizeof(*v));
	uint32_t *u = calloc(cfg->tun.uids.n + 1, sizeof(*u));
	uint32_t *x = calloc(cfg->tun.exclude_uids.n + 1, sizeof(*x));
	struct cidr *lan = calloc(cfg->gateway.lan.n + 1, sizeof(*lan));

	if (!v || !u || !x || !lan) {
		free(v);
		free(u);
		free(x);
		free(lan);
		snprintf(err, errlen, "tun: out of memory");
		return -1;
	}
	/* The proxy servers themselves, when given as addresses (a name is covered by the
	 * fwmark on our own sockets, and by a learned throw route once looked up). */
	for (size_t i = 0; i < cfg->n_proxies; i++)
		if (cfg->proxies[i].type != PROXY_TYPE_DIRECT &&
		    cidr_parse(cfg->proxies[i].server, &v[n]) == 0)
			n++;
	for (size_t i = 0; i < r->bypass_cidrs.n; i++)
		v[n++] = r->bypass_cidrs.v[i];
	if (r->scope == SCOPE_BYPASS_CN)
		for (size_t i = 0; i < r->cn_cidrs.n; i++)
			v[n++] = r->cn_cidrs.v[i];
	if (cfg->tun.uids.n) /* an empty list's v is NULL, which memcpy must not see */
		memcpy(u, cfg->tun.uids.v, cfg->tun.uids.n * sizeof(*u));
	if (cfg->tun.exclude_uids.n)
		memcpy(x, cfg->tun.exclude_uids.v, cfg->tun.exclude_uids.n * sizeof(*x));
	if (cfg->gateway.lan.n)
		memcpy(lan, cfg->gateway.lan.v, cfg->gateway.lan.n * sizeof(*lan));
	spec_free(c);
	c->bypass = v;
	c->uids = u;
	c->exclude = x;
	c->lan = lan;
	c->spec = (struct nl_routes){
		.ifname = ifname,
		.table = TUN_TABLE,
		.other_table = TUN_TABLE2,
		.fwmark = cfg->fwmark,
		.priority = TUN_RULE_PRIORITY,
		.ipv6 = cfg->tun.has_address6,
		.block_ipv6 = !cfg->tun.has_address6 && cfg->rules.block_uncaptured,
		.bypass = v,
		.n_bypass = n,
		.uids = u,
		.n_uids = cfg->tun.uids.n,
		.exclude_uids = x,
		.n_exclude = cfg->tun.exclude_uids.n,
		.gateway = cfg->gateway.enable,
		.lan = lan,
		.n_lan = cfg->gateway.enable ? cfg->gateway.lan.n : 0,
		/* The resolver answers what the netstack intercepts: every query goes in. */
		.capture_dns = cfg->dns.enable,
		.cgroup_mark = cfg->capture.cgroups.n ? cgroup_mark_for(cfg) : 0,
		.fill = learned_fill,
		.fill_arg = c,
	};
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The one line saying how many networks stay out of the tun and how long the kernel
 * took to take them (routes and rules), since t0. */
static void log_applied(const struct nl_routes *s, double t0)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_bypass; i++)
		n += s->bypass[i].family == AF_INET || s->ipv6;
	log_info("rules: %zu bypass networks applied in %.1f ms (routes in table 0x%x)", n,
		 now_ms() - t0, (unsigned)s->table);
}

static void ct_free(void *priv);

/* ---- DNS-learned addresses: host routes in our table --------------------- */

/* Routes for learned addresses, sent 256 to a batch. */
struct host_batch {
	const char *ifname;
	uint32_t table;
	bool add, ipv6;
	int rc; /* -1 once a batch failed; err holds why */
	char err[512];
	struct nl_host v[256];
	size_t n;
};

static void batch_init(struct host_batch *b, const struct capture_tun *c, uint32_t table,
		       bool add)
{
	b->ifname = c->spec.ifname;
	b->ipv6 = c->spec.ipv6;
	b->table = table;
	b->add = add;
	b->rc = 0;
	b->err[0] = 0;
	b->n = 0;
}

static void batch_flush(struct host_batch *b)
{
	if (b->n && nl_hosts_apply(b->ifname, b->table, b->v, b->n, b->add, b->err,
				   sizeof(b->err)) < 0)
		b->rc = -1;
	b->n = 0;
}

static void batch_add(void *ctx, const struct learned_addr *a)
{
	struct host_batch *b = ctx;

	b->v[b->n].family = a->family;
	memcpy(b->v[b->n].addr, a->addr, 16);
	b->v[b->n].via_tun = a->proxy;
	/* IPv6 blocked (no tun.address6): a proxied IPv6 address cannot be carried. */
	b->v[b->n].unreachable = a->proxy && a->family == AF_INET6 && !b->ipv6;
	if (++b->n == ARRAY_SIZE(b->v))
		batch_flush(b);
}

static void batch_end(struct host_batch *b)
{
	batch_flush(b);
	if (b->rc < 0)
		log_warn("tun: learned addresses: %s", b->err);
}

struct expiry {
	struct capture_tun *c;
	struct host_batch del, restore;
};

/* An expired address's route goes, except where it replaced a static bypass route of
 * the same address (a proxy-domains address inside bypass-cidrs): that gets the throw
 * route back (inside a wider bypass network the extra /32 throw changes nothing). */
static void expired(void *ctx, const struct learned_addr *a)
{
	struct expiry *e = ctx;

	if (a->proxy && cidrset_contains(e->c->static_bypass, a->family, a->addr)) {
		struct learned_addr t = *a;
		t.proxy = false;
		batch_add(&e->restore, &t);
	} else {
		batch_add(&e->del, a);
	}
	log_debug("tun: learned %s %s address expired", a->family == AF_INET ? "IPv4" : "IPv6",
		  a->proxy ? "proxy" : "bypass");
}

static void expire_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct capture_tun *c = container_of(w, struct capture_tun, expire);
	struct expiry e = { .c = c };

	(void)revents;
	batch_init(&e.del, c, c->spec.table, false);
	batch_init(&e.restore, c, c->spec.table, true);
	learned_each(c->learned, ev_now(loop), NULL, expired, &e);
	batch_end(&e.del);
	batch_end(&e.restore);
	if (!learned_count(c->learned))
		ev_timer_stop(loop, w);
}

/* nl_routes_swap's hook: the learned host routes go into the new table before any rule
 * leads there, so a reload never leaves them out for a moment. */
static int learned_fill(uint32_t table, void *arg, char *err, size_t errlen)
{
	struct capture_tun *c = arg;
	struct host_batch b;

	if (!c->learned)
		return 0;
	batch_init(&b, c, table, true);
	learned_each(c->learned, ev_now(c->loop), batch_add, NULL, &b);
	batch_flush(&b);
	if (b.rc < 0)
		snprintf(err, errlen, "learned host routes: %s", b.err);
	return b.rc;
}

static void ct_learn(void *priv, bool proxy, const struct dns_learned *v, size_t n)
{
	struct capture_tun *c = priv;
	double now = ev_now(c->loop);
	struct host_batch b;

	if (!c->routes)
		return; /* routes of --setup or none: nothing of ours to add to */
	batch_init(&b, c, c->spec.table, true);
	for (size_t i = 0; i < n; i++) {
		struct learned_addr a = { .family = v[i].family, .proxy = proxy,
					  .expires = now + v[i].ttl };
		if (a.family == AF_INET6 && !c->spec.ipv6 && !c->spec.block_ipv6)
			continue; /* IPv6 is not captured at all: nothing to route */
		memcpy(a.addr, v[i].addr, 16);
		/* Bypassed already by a static network: no route of ours to add or remove. */
		if (!proxy && cidrset_contains(c->static_bypass, a.family, a.addr))
			continue;
		if (learned_put(c->learned, &a) == 1) { /* new or changed kind: a route */
			batch_add(&b, &a);
			log_debug("tun: learned a %s %s address for %u s",
				  a.family == AF_INET ? "IPv4" : "IPv6", proxy ? "proxy" : "bypass",
				  (unsigned)v[i].ttl);
		}
	}
	batch_end(&b);
	if (learned_count(c->learned) && !ev_is_active(&c->expire))
		ev_timer_start(c->loop, &c->expire);
}

/* ---- the gateway: forwarding and the LAN's masquerade ---------------------- */

/* The LAN's traffic the routes send around the tun (bypassed) leaves with our address,
 * as in redirect mode: nft table inet snet_tun with a postrouting chain alone. */
static int masquerade(struct capture_tun *c, const struct config *cfg, char *err, size_t errlen)
{
	struct firewall_spec spec = { .cfg = cfg, .gateway = c->gateway,
				      .tun_ifindex = if_nametoindex(tun_name(c->tun)),
				      .cgroups = c->cgroups, .cgroup_mark = c->spec.cgroup_mark };

	if (!spec.tun_ifindex) {
		snprintf(err, errlen, "tun %s: %s", tun_name(c->tun), strerror(errno));
		return -1;
	}
	return firewall_install(&spec, err, errlen);
}

/* After the routes: forwarding never runs ahead of the capture. IPv6 is forwarded only
 * when it can enter the tun. */
static int gateway_on(struct capture_tun *c, const struct config *cfg, char *err,
		      size_t errlen)
{
	if (!c->gateway && !cgroups_count(c->cgroups))
		return 0;
	if (masquerade(c, cfg, err, errlen) < 0)
		return -1;
	c->masquerade = true;
	if (!c->gateway)
		return 0;
	return gateway_fwd_on(&c->fwd, gateway_lan_has(&cfg->gateway.lan, AF_INET),
			      cfg->tun.has_address6 && gateway_lan_has(&cfg->gateway.lan, AF_INET6),
			      err, errlen);
}

/* Forwarding back first (the LAN's traffic is not forwarded uncaptured meanwhile), then
 * the masquerade. 0 or -1 with err set. */
static int gateway_off(struct capture_tun *c, char *err, size_t errlen)
{
	char why[256];
	int rc = 0;

	if (gateway_fwd_restore(&c->fwd, why, sizeof(why)) < 0)
		log_warn("%s", why);
	if (c->masquerade) {
		c->masquerade = false;
		rc = firewall_remove(err, errlen);
	}
	firewall_close();
	return rc;
}

/* ---- failing closed: the device outlives a crash ---------------------------- */

/* Whether the device we attached to is one a dead run kept. */
static bool device_left_over(const struct tun *t)
{
	char alias[128], why[256];

	if (nl_alias_get(tun_name(t), alias, sizeof(alias), why, sizeof(why)) < 0) {
		log_warn("tun %s: %s", tun_name(t), why);
		return false;
	}
	return strcmp(alias, NL_ALIAS_KEPT) == 0;
}

/* Keeps the device (and so its routes) after a crash, or lets it go with us again. Both
 * steps or neither: persistent without the mark, a restart would take it for --setup's. */
static void device_keep(struct capture_tun *c, bool on)
{
	char why[256];

	if (c->kept == on)
		return;
	if (!on) {
		if (tun_set_persist(c->tun, false, why, sizeof(why)) < 0)
			log_warn("%s; it stays until `snet-tun --cleanup`", why);
		c->kept = false;
		return;
	}
	if (tun_set_persist(c->tun, true, why, sizeof(why)) < 0 ||
	    nl_alias_set(tun_name(c->tun), NL_ALIAS_KEPT, why, sizeof(why)) < 0) {
		char why2[256];

		tun_set_persist(c->tun, false, why2, sizeof(why2));
		log_warn("%s: after a crash, traffic would no longer be captured (fail open)", why);
		return;
	}
	c->kept = true;
}

/* The routes: taken over from a run that died, or installed. 0 or -1 with err set. */
static int routes_up(struct capture_tun *c, bool present, uint32_t in_use, char *err,
		     size_t errlen)
{
	char why[512];
	double t0 = now_ms();
	int rc;

	if (present) {
		c->spec.table = in_use == TUN_TABLE ? TUN_TABLE2 : TUN_TABLE;
		c->spec.other_table = in_use;
		rc = nl_routes_adopt(&c->spec, in_use, why, sizeof(why));
		if (rc < 0) {
			snprintf(err, errlen, "tun %s: taking over the routes left in table 0x%x: %s",
				 tun_name(c->tun), (unsigned)in_use, why);
			return -1;
		}
		log_info("tun %s: took over the device and the routes a run that died left "
			 "(table 0x%x)%s%s", tun_name(c->tun), (unsigned)in_use,
			 rc > 0 ? "; not all of the old ones are gone: " : "", rc > 0 ? why : "");
	} else if (nl_routes_install(&c->spec, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "tun %s: routes: %s%s", tun_name(c->tun), why,
			 privdrop_has_net_admin() ? "" : " (no CAP_NET_ADMIN: run `snet-tun "
			 "--setup -c FILE` as root first)");
		return -1;
	}
	log_applied(&c->spec, t0);
	return 0;
}

/* ---- DNS sent into the tun: to the resolver ------------------------------ */

/* The policy of tun mode: every query to port 53, whatever its address, is the
 * resolver's -- UDP handed over here, TCP relayed (directly) to its own listener. */
static bool dns_port(void *ctx, uint16_t port)
{
	(void)ctx;
	return port == 53;
}

static void dns_answer(void *ctx, const struct dns_client *cl, const uint8_t *msg, size_t len)
{
	struct capture_tun *c = ctx;

	/* From the address the query was sent to. */
	netstack_udp_reply(c->ns, &cl->peer, &cl->local, msg, len);
}

static void dns_udp(void *ctx, const struct sockaddr_storage *client,
		    const struct sockaddr_storage *dst, const uint8_t *data, size_t len)
{
	struct capture_tun *c = ctx;
	struct dns_client cl = { .peer = *client, .local = *dst, .tcp = false };

	dns_server_query(c->dns, data, len, &cl, dns_answer, c);
}

static void dns_tcp(void *ctx, struct target *t)
{
	struct capture_tun *c = ctx;

	if (t->port != 53)
		return;
	t->addr = *dns_server_listen_addr(c->dns);
	t->direct = true;
}

/* The device was deleted from under us: nothing can be captured any more, so the
 * process shuts down as on SIGTERM (routes and rules removed) and exits 1. */
static void tun_gone(void *ctx, const char *why)
{
	struct capture_tun *c = ctx;

	snprintf(c->gone, sizeof(c->gone), "tun %s is gone (%s)", tun_name(c->tun), why);
	log_error("%s: shutting down", c->gone);
	c->kept = false; /* nothing left to keep */
	ev_break(c->loop, EVBREAK_ALL);
}

static const char *ct_failed(void *priv)
{
	struct capture_tun *c = priv;

	return c->gone[0] ? c->gone : NULL;
}

static void ct_stats(void *priv, char *buf, size_t len)
{
	struct capture_tun *c = priv;
	const struct netstack_stats *st = netstack_stats(c->ns);

	snprintf(buf, len,
		 "tcp-pcbs %llu tcp-time-wait %llu tcp-conns %llu tcp-listeners %llu "
		 "tcp-unsent %llu tcp-unacked %llu tcp-persist %llu "
		 "udp-flows %llu learned %zu tun-dropped-in %llu tun-dropped-out %llu",
		 (unsigned long long)st->tcp_pcbs, (unsigned long long)st->tcp_time_wait,
		 (unsigned long long)st->tcp_active, (unsigned long long)st->listeners,
		 (unsigned long long)st->tcp_unsent, (unsigned long long)st->tcp_unacked,
		 (unsigned long long)st->tcp_persist, (unsigned long long)st->udp_flows, learned_count(c->learned),
		 (unsigned long long)st->dropped_in, (unsigned long long)st->dropped_out);
}

static void *ct_start(struct ev_loop *loop, struct relay *relay, struct dns_server *dns,
		      const struct config *cfg,
		      char *err, size_t errlen)
{
	struct capture_tun *c = calloc(1, sizeof(*c));
	struct netstack_intercept icpt;
	char why[512];

	if (!c) {
		snprintf(err, errlen, "tun: out of memory");
		return NULL;
	}
	c->mtu = cfg->tun.mtu;
	c->loop = loop;
	c->gateway = cfg->gateway.enable;
	c->learned = learned_new();
	ev_timer_init(&c->expire, expire_cb, 1., 1.);
	if (!c->learned) {
		snprintf(err, errlen, "tun: out of memory");
		goto fail;
	}
	c->tun = tun_open(cfg->tun.name, err, errlen);
	if (!c->tun)
		goto fail;
	c->leftover = !tun_created(c->tun) && device_left_over(c->tun);
	c->kept = c->leftover; /* persistent already; ours to let go */
	if (!tun_created(c->tun) &&
	    nl_link_ready(tun_name(c->tun), cfg->tun.mtu, &cfg->tun.address,
			  cfg->tun.has_address6 ? &cfg->tun.address6 : NULL, why, sizeof(why)) == 1) {
		log_info("tun %s: attached to the persistent device, already up with its "
			 "addresses; leaving its settings", tun_name(c->tun));
	} else if (nl_link_configure(tun_name(c->tun), cfg->tun.mtu, &cfg->tun.address,
				     cfg->tun.has_address6 ? &cfg->tun.address6 : NULL, why,
				     sizeof(why)) < 0) {
		snprintf(err, errlen, "tun %s: %s", tun_name(c->tun), why);
		goto fail;
	}
	/* Big segments from the kernel: far fewer packets per byte (see netstack.c). */
	if (tun_enable_tso(c->tun, why, sizeof(why)) < 0)
		log_warn("%s; continuing with MTU-sized packets", why);
	c->dns = dns;
	icpt = (struct netstack_intercept){ .udp_port = dns_port, .udp = dns_udp, .tcp = dns_tcp,
					    .ctx = c };
	c->ns = netstack_new(loop, tun_fd(c->tun), cfg->tun.mtu, relay, dns ? &icpt : NULL,
			     cfg->tun.udp_timeout,
			     cfg->tun.udp_max_flows, err, errlen);
	if (!c->ns)
		goto fail;
	netstack_on_gone(c->ns, tun_gone, c);
	/* The groups exist before the rule naming them is loaded (gateway_on). */
	if (cfg->capture.cgroups.n && !(c->cgroups = cgroups_open(cfg, err, errlen)))
		goto fail;
	if (cfg->tun.auto_route) {
		uint32_t in_use = 0;
		bool present;

		if (spec_build(c, cfg, tun_name(c->tun), err, errlen) < 0)
			goto fail;
		present = !tun_created(c->tun) &&
			  nl_routes_present(&c->spec, &in_use, why, sizeof(why)) == 1;
		if (present && !c->leftover) {
			log_info("tun %s: routes installed by --setup are in place; using them "
				 "(--cleanup removes them)", tun_name(c->tun));
			c->setup_routes = true;
			goto gateway;
		}
		if (routes_up(c, present, in_use, err, errlen) < 0)
			goto fail;
		c->routes = true;
		c->static_bypass = cidrset_new(c->spec.bypass, c->spec.n_bypass);
		device_keep(c, cfg->rules.block_uncaptured);
	} else {
		device_keep(c, false);
	}
gateway:
	if (gateway_on(c, cfg, err, errlen) < 0)
		goto fail;
	return c;
fail:
	ct_free(c);
	return NULL;
}

static int ct_reload(void *priv, const struct config *cfg, char *err, size_t errlen)
{
	struct capture_tun *c = priv;
	struct nl_routes old = c->spec;
	struct cidr *ob = c->bypass, *ol = c->lan;
	uint32_t *ou = c->uids, *ox = c->exclude;
	char why[512];
	double t0;
	int rc;

	if (!c->routes)
		return 0;
	/* Build the new spec without freeing the old arrays yet. */
	c->bypass = c->lan = NULL;
	c->uids = c->exclude = NULL;
	if (spec_build(c, cfg, tun_name(c->tun), err, errlen) < 0)
		goto restore;
	/* Into the idle table of the two; the old routes and rules stay in force until the
	 * new ones are complete (nl_routes_swap). */
	c->spec.table = old.table == TUN_TABLE ? TUN_TABLE2 : TUN_TABLE;
	c->spec.other_table = old.table;
	t0 = now_ms();
	rc = nl_routes_swap(&old, &c->spec, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "tun routes: %s", why);
		spec_free(c);
		goto restore;
	}
	log_applied(&c->spec, t0);
	cidrset_free(c->static_bypass);
	c->static_bypass = cidrset_new(c->spec.bypass, c->spec.n_bypass);
	if (rc > 0)
		log_warn("tun routes: swapped to table 0x%x, but the old ones are not all gone: %s",
			 (unsigned)c->spec.table, why);
	free(ob);
	free(ou);
	free(ox);
	free(ol);
	device_keep(c, cfg->rules.block_uncaptured);
	/* The routes are swapped; the masquerade and forwarding follow gateway.lan. */
	return gateway_on(c, cfg, err, errlen);
restore:
	/* A failed swap has undone what it added: the old routes are still in force. */
	c->spec = old;
	c->bypass = ob;
	c->uids = ou;
	c->exclude = ox;
	c->lan = ol;
	return -1;
}

static const char *ct_describe(void *priv, char *buf, size_t len)
{
	struct capture_tun *c = priv;
	char table[32] = "";

	if (c->routes || c->setup_routes)
		snprintf(table, sizeof(table), " (table 0x%x)", (unsigned)c->spec.table);
	snprintf(buf, len, "mode tun, device %s mtu %u, routes %s%s%s", tun_name(c->tun), c->mtu,
		 c->routes ? "installed" : c->setup_routes ? "from --setup" : "not installed", table,
		 c->gateway ? ", gateway for gateway.lan" : "");
	return buf;
}

static int ct_stop_capture(void *priv, char *err, size_t errlen)
{
	struct capture_tun *c = priv;
	char why[256];
	int rc = 0;

	if (gateway_off(c, why, sizeof(why)) < 0)
		rc = -1;
	if (c->routes) {
		c->routes = false;
		if (nl_routes_remove(&c->spec, err, errlen) < 0)
			return -1;
	}
	device_keep(c, false); /* the device goes when we close it */
	if (rc < 0)
		snprintf(err, errlen, "%s", why);
	return rc;
}

static void ct_free(void *priv)
{
	struct capture_tun *c = priv;
	char err[256];

	if (!c)
		return;
	if (c->gateway || c->masquerade)
		gateway_off(c, err, sizeof(err));
	if (c->routes)
		nl_routes_remove(&c->spec, err, sizeof(err));
	cgroups_free(c->cgroups); /* after the rule naming them went */
	if (c->tun && c->routes)
		device_keep(c, false);
	ev_timer_stop(c->loop, &c->expire);
	learned_free(c->learned);
	cidrset_free(c->static_bypass);
	netstack_free(c->ns);
	if (c->tun)
		tun_close(c->tun);
	spec_free(c);
	free(c);
}

static int ct_cleanup(const struct config *cfg, char *err, size_t errlen)
{
	struct capture_tun c;
	int rc;

	memset(&c, 0, sizeof(c));
	if (spec_build(&c, cfg, cfg->tun.name, err, errlen) < 0)
		return -1;
	rc = nl_routes_remove(&c.spec, err, errlen);
	spec_free(&c);
	/* The gateway's masquerade (forwarding cannot be known: it stays as it is). */
	if (rc == 0 && (cfg->gateway.enable || cfg->capture.cgroups.n)) {
		rc = firewall_remove(err, errlen);
		firewall_close();
	}
	/* A persistent device from --setup; a run's own device is gone with the run. */
	if (rc == 0)
		rc = tun_delete_persistent(cfg->tun.name, err, errlen);
	return rc;
}

int capture_tun_setup(const struct config *cfg, uid_t owner, char *err, size_t errlen)
{
	struct capture_tun c;
	char why[512], ip[INET6_ADDRSTRLEN], uids[256] = "every user";
	bool created;

	memset(&c, 0, sizeof(c));
	c.tun = tun_open(cfg->tun.name, err, errlen);
	if (!c.tun)
		return -1;
	created = tun_created(c.tun);
	if (tun_make_persistent(c.tun, owner, (gid_t)-1, err, errlen) < 0)
		goto fail;
	log_info("setup: %s persistent tun device %s owned by uid %u",
		 created ? "created" : "kept the", cfg->tun.name, (unsigned)owner);
	/* Ours from now on, not a dead run's (whose mark would make a run take it over). */
	if (!created && nl_alias_set(cfg->tun.name, "", why, sizeof(why)) < 0)
		log_warn("setup: %s", why);
	if (nl_link_configure(cfg->tun.name, cfg->tun.mtu, &cfg->tun.address,
			      cfg->tun.has_address6 ? &cfg->tun.address6 : NULL, why,
			      sizeof(why)) < 0) {
		snprintf(err, errlen, "tun %s: %s", cfg->tun.name, why);
		goto fail;
	}
	inet_ntop(AF_INET, cfg->tun.address.addr, ip, sizeof(ip));
	log_info("setup: %s is up, mtu %u, address %s/%u%s", cfg->tun.name, cfg->tun.mtu, ip,
		 cfg->tun.address.prefix, cfg->tun.has_address6 ? " and its IPv6 address" : "");
	if (cfg->tun.auto_route) {
		if (spec_build(&c, cfg, cfg->tun.name, err, errlen) < 0)
			goto fail;
		/* The unprivileged run's own queries carry no mark: DNS rules would send them
		 * back into its own tun. */
		c.spec.capture_dns = false;
		if (nl_routes_install(&c.spec, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "tun %s: routes: %s", cfg->tun.name, why);
			goto fail;
		}
		for (size_t i = 0, o = 0; i < c.spec.n_uids && o < sizeof(uids); i++)
			o += (size_t)snprintf(uids + o, sizeof(uids) - o, "%s%u", i ? "," : "uid ",
					      (unsigned)c.spec.uids[i]);
		log_info("setup: routes into %s (table 0x%x, rules at priorities %u..%u) for %s",
			 cfg->tun.name, TUN_TABLE, TUN_RULE_PRIORITY, TUN_RULE_PRIORITY + 3, uids);
	}
	spec_free(&c);
	tun_close(c.tun);
	return 0;
fail:
	/* A failed route install has removed what it added. */
	spec_free(&c);
	tun_close(c.tun);
	if (created)
		tun_delete_persistent(cfg->tun.name, why, sizeof(why));
	return -1;
}

const struct capture_ops capture_tun_ops = {
	.name = "tun",
	.start = ct_start,
	.reload = ct_reload,
	.learn = ct_learn,
	.describe = ct_describe,
	.stats = ct_stats,
	.stop_capture = ct_stop_capture,
	.failed = ct_failed,
	.free = ct_free,
	.cleanup = ct_cleanup,
};
