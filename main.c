/* main.c -- command line, start-up and shutdown order, signals (TERM/INT stop, HUP reloads). */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dns/lookup.h"
#include "dns/server.h"
#include "capture/capture.h"
#include "base/config.h"
#include "base/domainset.h"
#include "base/log.h"
#include "base/net.h"
#include "service/top.h"
#include "capture/cgroup.h"
#include "base/privdrop.h"
#include "relay/relay.h"
#include "base/resolve.h"
#include "service/notify.h"
#include "service/stats.h"

struct app {
	struct ev_loop *loop;
	struct config cfg;
	struct resolver *resolver;
	struct relay *relay;
	struct dns_server *dns; /* NULL when dns.enable is false */
	struct dns_lookup *lookup; /* the resolver's backend; NULL when dns.enable is false */
	struct resolve_req *prefetch[CONFIG_PROXIES_MAX]; /* the upstreams' names, looked up ahead */
	struct prefetch {
		struct app *a;
		size_t i;
	} prefetch_ctx[CONFIG_PROXIES_MAX];
	const struct capture_ops *capture;
	void *cap; /* the capture's state */
	struct stats *stats; /* the endpoint at stats.listen; NULL when off */
	uid_t start_uid; /* getuid() at start, before any `user:` switch */
	bool unmarked; /* no CAP_NET_ADMIN: upstream sockets carry no SO_MARK */
	ev_signal sig_term, sig_int, sig_hup, sig_usr1;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: snet-tun -c FILE [--check | --cleanup | --setup]\n"
		   "       snet-tun top [--stats HOST:PORT] [-c FILE]\n"
		   "       snet-tun run [-c FILE] [--] COMMAND [ARGS...]\n"
		   "       snet-tun --version | --help\n\n"
		   "  -c, --config FILE  configuration (YAML); see config.yaml\n"
		   "      --check        validate FILE and exit (0 valid, 1 invalid)\n"
		   "      --cleanup      remove rules left behind by a killed instance, and the\n"
		   "                     persistent tun device made by --setup\n"
		   "      --setup        (root, tun mode) make a persistent tun owned by `user:`\n"
		   "                     with its routes, so that user can run without privileges\n"
		   "  -V, --version      print the version\n"
		   "  -h, --help         this text\n"
		   "  top                live connections of a running instance, from its stats\n"
		   "                     endpoint (snet-tun top --help)\n"
		   "  run                COMMAND in a child group of FILE's first capture.cgroups\n"
		   "                     entry (default FILE /etc/snet-tun/config.yaml), captured\n"
		   "                     by the running instance\n\n"
		   "Signals: TERM/INT stop and remove everything added; HUP reloads FILE;\n"
		   "USR1 logs one line of counters (stats: sessions N ...) and reopens the query log.\n");
}

/* Tun mode, tun.uids empty: a process that is not root captures only its own user's
 * traffic (everyone's would need root's say-so); --setup captures the `user:`'s. */
static int default_uids(struct config *cfg, uid_t uid, bool quiet)
{
	uint32_t *v;

	if (cfg->mode != MODE_TUN || cfg->tun.uids.n || uid == 0)
		return 0;
	v = realloc(cfg->tun.uids.v, sizeof(*v));
	if (!v) {
		log_error("out of memory");
		return -1;
	}
	v[0] = (uint32_t)uid;
	cfg->tun.uids.v = v;
	cfg->tun.uids.n = 1;
	if (!quiet)
		log_info("tun.uids is empty: capturing only uid %u's traffic", (unsigned)uid);
	return 0;
}

/* Without CAP_NET_ADMIN our upstream sockets carry no mark and, belonging to a captured
 * user, would be routed into the tun, except that the proxy server's address is thrown
 * out of our table. That covers the proxy server only when it is an address, and never
 * the targets `direct` connects to. 0, or -1 with err set. */
static int unmarked_ok(const struct config *cfg, char *err, size_t errlen)
{
	struct cidr c;

	if (cfg->mode != MODE_TUN)
		return 0;
	for (size_t i = 0; i < cfg->n_proxies; i++) {
		const struct config_proxy *p = &cfg->proxies[i];

		if (p->type == PROXY_TYPE_DIRECT) {
			snprintf(err, errlen, "proxy.type direct needs CAP_NET_ADMIN in tun mode: "
				 "without SO_MARK its connections to the targets would be captured "
				 "again");
			return -1;
		}
		if (cidr_parse(p->server, &c) < 0) {
			snprintf(err, errlen, "proxy.server must be an IP address without "
				 "CAP_NET_ADMIN in tun mode: only an address gets a route around the "
				 "tun (looking up '%s' would itself go into the tun)", p->server);
			return -1;
		}
	}
	return 0;
}

/* Unmarked, the routes must send the proxy server around the tun: the kernel picks the
 * source address a socket to it would use, and the tun's own address means the tun.
 * (Routes from --setup hold the throw route only for the server that config named.) */
static int server_routed_around(const struct config *cfg, const struct config_proxy *p,
				char *err, size_t errlen)
{
	struct sockaddr_storage ss, local;
	socklen_t len = sizeof(local);
	char a[NET_ADDRSTRLEN];
	int fd;

	if (cfg->mode != MODE_TUN || net_pton(p->server, p->port, &ss) < 0)
		return 0;
	fd = net_socket(ss.ss_family, SOCK_DGRAM);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, net_sockaddr_len(&ss)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return 0; /* no route at all: the connects will say so */
	}
	close(fd);
	if ((local.ss_family == AF_INET &&
	     !memcmp(&((struct sockaddr_in *)&local)->sin_addr, cfg->tun.address.addr, 4)) ||
	    (local.ss_family == AF_INET6 && cfg->tun.has_address6 &&
	     !memcmp(&((struct sockaddr_in6 *)&local)->sin6_addr, cfg->tun.address6.addr, 16))) {
		snprintf(err, errlen, "proxy.server %s would be routed into the tun: without "
			 "CAP_NET_ADMIN only a throw route keeps it out, and the routes in place "
			 "have none for it (run `snet-tun --setup` again with this config)",
			 net_ntop(&ss, a, sizeof(a)));
		return -1;
	}
	return 0;
}

static int proxy_routed_around(const struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->n_proxies; i++)
		if (server_routed_around(cfg, &cfg->proxies[i], err, errlen) < 0)
			return -1;
	return 0;
}

/* The proxy server's addresses, whenever its name was looked up afresh: kept out of the
 * capture (learned bypass addresses: nft set elements or throw routes) for the answer's
 * TTL, refreshed by every lookup. Marked sockets skip the capture anyway; this also holds
 * when they cannot be marked. */
static void on_resolved(void *ctx, const char *host, const struct resolve_answer *ans)
{
	struct app *a = ctx;
	struct dns_learned v[RESOLVE_ADDR_MAX];
	size_t n = 0;

	bool ours = false;

	for (size_t i = 0; i < a->cfg.n_proxies; i++)
		ours |= a->cfg.proxies[i].type != PROXY_TYPE_DIRECT &&
			!strcasecmp(host, a->cfg.proxies[i].server);
	if (!a->cap || !a->capture->learn || !ours)
		return;
	for (size_t i = 0; i < ans->n; i++) {
		const struct sockaddr_storage *ss = &ans->addr[i];
		memset(&v[n], 0, sizeof(v[n]));
		v[n].family = ss->ss_family;
		v[n].ttl = ans->ttl;
		if (ss->ss_family == AF_INET)
			memcpy(v[n].addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		else
			memcpy(v[n].addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		n++;
	}
	log_debug("proxy.server %s: %zu addresses, kept out of the capture for %u s", host, n,
		  (unsigned)ans->ttl);
	a->capture->learn(a->cap, false, v, n);
}

static void prefetched(void *arg, int err, const struct sockaddr_storage *addr)
{
	struct prefetch *p = arg;
	struct app *a = p->a;
	const struct config_proxy *px = &a->cfg.proxies[p->i];
	char s[NET_ADDRSTRLEN];

	a->prefetch[p->i] = NULL;
	if (err)
		log_warn("upstream %s: server %s: cannot resolve: %s (tried again per connection)",
			 px->name, px->server, gai_strerror(err));
	else
		log_info("upstream %s: server %s is %s", px->name, px->server,
			 net_ntop(addr, s, sizeof(s)));
}

/* Looks the upstreams given by name up now, so their addresses are bypassed (and cached)
 * before the first connection needs them. */
static void proxy_prefetch(struct app *a)
{
	struct sockaddr_storage ss;

	for (size_t i = 0; i < CONFIG_PROXIES_MAX; i++) {
		const struct config_proxy *px = &a->cfg.proxies[i];

		resolver_cancel(a->prefetch[i]);
		a->prefetch[i] = NULL;
		if (i >= a->cfg.n_proxies || px->type == PROXY_TYPE_DIRECT ||
		    net_pton(px->server, 0, &ss) == 0)
			continue;
		a->prefetch_ctx[i] = (struct prefetch){ a, i };
		if (resolver_query(a->resolver, px->server, px->port, &ss, prefetched,
				   &a->prefetch_ctx[i], &a->prefetch[i]) < 0)
			log_warn("upstream %s: server %s: cannot resolve: %s", px->name, px->server,
				 strerror(errno));
	}
}

/* "ss 198.18.0.2:8388 chacha20-ietf-poly1305", or for several "hk: ss ..., b: socks5 ...
 * (failover)". */
static void describe_upstreams(const struct config *cfg, char *buf, size_t len)
{
	static const char *const policies[] = { "failover", "fastest", "round-robin" };
	size_t o = 0;

	buf[0] = 0;
	for (size_t i = 0; i < cfg->n_proxies && o < len; i++) {
		const struct config_proxy *p = &cfg->proxies[i];

		if (cfg->n_proxies > 1)
			o += (size_t)snprintf(buf + o, len - o, "%s%s: ", i ? ", " : "", p->name);
		if (o >= len)
			break;
		if (p->type == PROXY_TYPE_DIRECT)
			o += (size_t)snprintf(buf + o, len - o, "direct");
		else
			o += (size_t)snprintf(buf + o, len - o, "%s %s:%u%s%s", proxy_ops_for(p)->name,
					      p->server, p->port, p->type == PROXY_TYPE_SS ? " " : "",
					      p->type == PROXY_TYPE_SS ? p->method : "");
	}
	if (cfg->n_proxies > 1 && o < len)
		snprintf(buf + o, len - o, " (%s)", policies[cfg->upstream.policy]);
}

/* Which CN lists and block lists are in force, and how big they are. */
static void log_rule_data(const struct config *cfg)
{
	const struct config_rules *r = &cfg->rules;

	if (r->cn_cidr_file[0] || r->cn_cidr6_file[0])
		log_info("rules: CN networks%s: %s (%zu), %s (%zu)",
			 r->cn_default ? " (default lists)" : "",
			 r->cn_cidr_file[0] ? r->cn_cidr_file : "no IPv4 list", r->cn_n4,
			 r->cn_cidr6_file[0] ? r->cn_cidr6_file : "no IPv6 list", r->cn_n6);
	if (r->block_set)
		log_info("rules: block lists: %zu names from %zu files in %.1f ms, %zu KiB",
			 domainset_count(r->block_set), r->block_domain_files.n, r->block_load_ms,
			 domainset_bytes(r->block_set) / 1024);
}

static void app_reload(struct app *a)
{
	struct config next;
	char err[1024];

	if (config_load(a->cfg.path, &next, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return;
	}
	if (default_uids(&next, a->start_uid, true) < 0) {
		config_free(&next);
		return;
	}
	if (a->unmarked && (unmarked_ok(&next, err, sizeof(err)) < 0 ||
			    proxy_routed_around(&next, err, sizeof(err)) < 0)) {
		log_error("reload: %s; keeping the running configuration", err);
		config_free(&next);
		return;
	}
	if (next.mode != a->cfg.mode ||
	    memcmp(&next.redirect.listen, &a->cfg.redirect.listen, sizeof(next.redirect.listen)) ||
	    next.redirect.install_rules != a->cfg.redirect.install_rules ||
	    next.redirect.method != a->cfg.redirect.method ||
	    memcmp(&next.tun.address, &a->cfg.tun.address, sizeof(next.tun.address)) ||
	    strcmp(next.tun.name, a->cfg.tun.name) || next.tun.mtu != a->cfg.tun.mtu ||
	    next.tun.auto_route != a->cfg.tun.auto_route || strcmp(next.user, a->cfg.user) ||
	    next.dns.enable != a->cfg.dns.enable || next.dns.cache_size != a->cfg.dns.cache_size ||
	    next.dns.min_ttl != a->cfg.dns.min_ttl || next.dns.max_ttl != a->cfg.dns.max_ttl ||
	    next.gateway.enable != a->cfg.gateway.enable)
		log_warn("reload: mode, user, redirect.listen, redirect.install-rules, "
			 "redirect.method, the tun device settings, dns.enable, the dns cache bounds and gateway.enable take "
			 "effect only after a restart");
	if (a->lookup && dns_lookup_reconfigure(a->lookup, &next, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		config_free(&next);
		return;
	}
	if (a->dns && dns_server_reconfigure(a->dns, &next, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		config_free(&next);
		return;
	}
	if (relay_reconfigure(a->relay, &next, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		config_free(&next);
		return;
	}
	/* Keep what cannot change without a restart. */
	next.mode = a->cfg.mode;
	next.redirect.listen = a->cfg.redirect.listen; /* its uid lists are next's own */
	next.redirect.listen_len = a->cfg.redirect.listen_len;
	next.redirect.install_rules = a->cfg.redirect.install_rules;
	next.redirect.method = a->cfg.redirect.method;
	memcpy(next.tun.name, a->cfg.tun.name, sizeof(next.tun.name));
	next.tun.address = a->cfg.tun.address;
	next.tun.has_address6 = a->cfg.tun.has_address6;
	next.tun.address6 = a->cfg.tun.address6;
	next.tun.mtu = a->cfg.tun.mtu;
	next.tun.auto_route = a->cfg.tun.auto_route;
	next.gateway.enable = a->cfg.gateway.enable;
	if (a->capture->reload(a->cap, &next, err, sizeof(err)) < 0) {
		/* The old rules are still in place: the swap is all or nothing. */
		log_error("reload: %s; the previous rules stay in force", err);
	}
	if (a->stats && stats_reconfigure(a->stats, &next, err, sizeof(err)) < 0)
		log_error("reload: %s; stats.allow stays as it was", err);
	config_free(&a->cfg);
	a->cfg = next;
	log_set_level(a->cfg.log_level);
	proxy_prefetch(a);
	log_info("reloaded %s", a->cfg.path);
	log_rule_data(&a->cfg);
}

/* Each relayed connection holds two descriptors: take the hard limit, not the soft one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the descriptor limit: %s", strerror(errno));
	}
}

/* SIGUSR1: one line of counters, whatever the log level. Each is a "key value" pair:
 * the relay's sessions (live now, opened since start, failed connects), the capture's
 * own (tun: lwIP's pcbs, the glue's connections and listeners, UDP flows; both: learned
 * addresses), the DNS cache, and the upstreams' health. Counting walks lwIP's pcb
 * lists once: cheap enough for a request, not done otherwise. */
static void app_stats(struct app *a)
{
	const struct relay_stats *rs;
	char cap[256] = "", dns[96] = "", ups[CONFIG_PROXIES_MAX * 80];

	if (!a->relay || !a->cap) {
		log_always("stats: not started yet");
		return;
	}
	rs = relay_stats(a->relay);
	if (a->capture->stats)
		a->capture->stats(a->cap, cap, sizeof(cap));
	if (a->dns) {
		const struct dns_server_stats *ds = dns_server_stats(a->dns);
		snprintf(dns, sizeof(dns), " dns-cache %llu dns-inflight %llu",
			 (unsigned long long)ds->cache_entries, (unsigned long long)ds->inflight);
	}
	relay_describe_upstreams(a->relay, ups, sizeof(ups));
	log_always("stats: sessions %llu sessions-total %llu connect-failures %llu "
		   "connect-addrnotavail %llu%s%s%s upstreams %s",
		   (unsigned long long)rs->sessions_active, (unsigned long long)rs->sessions_total,
		   (unsigned long long)rs->connect_failures,
		   (unsigned long long)rs->connect_addrnotavail, cap[0] ? " " : "", cap, dns, ups);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct app *a = w->data;

	(void)revents;
	if (w->signum == SIGHUP) {
		notify_reloading();
		app_reload(a);
		notify_ready("reloaded"); /* also after a refused reload: the old one runs on */
		return;
	}
	if (w->signum == SIGUSR1) {
		char err[1024];

		app_stats(a);
		/* and the query log is opened again (logrotate's postrotate) */
		if (a->dns) {
			int rc = dns_server_reopen_log(a->dns, err, sizeof(err));

			if (rc < 0)
				log_error("%s; still writing to the file open before", err);
			else if (rc > 0)
				log_info("dns: query log reopened");
		}
		return;
	}
	log_info("%s: shutting down", strsignal(w->signum));
	notify_stopping();
	ev_break(loop, EVBREAK_ALL);
}

static void on_learn(void *ctx, bool proxy, const struct dns_learned *v, size_t n)
{
	struct app *a = ctx;

	if (a->cap && a->capture->learn)
		a->capture->learn(a->cap, proxy, v, n);
}

static int fake_name(void *ctx, const struct sockaddr_storage *dst, char *host, size_t hostlen)
{
	return dns_server_fake_name(ctx, dst, host, hostlen);
}

static int app_run(struct app *a)
{
	char err[1024], where[512], upstream[CONFIG_HOST_MAX + 192];
	const char *desc;
	int rc = 1;

	a->loop = ev_default_loop(EVFLAG_AUTO);
	if (!a->loop) {
		log_error("cannot create the event loop");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	ev_signal_init(&a->sig_term, on_signal, SIGTERM);
	ev_signal_init(&a->sig_int, on_signal, SIGINT);
	ev_signal_init(&a->sig_hup, on_signal, SIGHUP);
	ev_signal_init(&a->sig_usr1, on_signal, SIGUSR1);
	a->sig_term.data = a->sig_int.data = a->sig_hup.data = a->sig_usr1.data = a;
	ev_signal_start(a->loop, &a->sig_term);
	ev_signal_start(a->loop, &a->sig_int);
	ev_signal_start(a->loop, &a->sig_hup);
	ev_signal_start(a->loop, &a->sig_usr1);

	a->resolver = resolver_new(a->loop);
	if (!a->resolver) {
		log_error("resolver: out of memory");
		goto out;
	}
	if (a->cfg.dns.enable) {
		/* Our own names are never looked up through our own resolver. */
		a->lookup = dns_lookup_new(a->loop, a->resolver, &a->cfg, err, sizeof(err));
		if (!a->lookup) {
			log_error("%s", err);
			goto out;
		}
		resolver_set_backend(a->resolver, dns_lookup_start, dns_lookup_cancel, a->lookup);
	}
	resolver_set_on_answer(a->resolver, on_resolved, a);
	a->relay = relay_new(a->loop, a->resolver, &a->cfg, err, sizeof(err));
	if (!a->relay) {
		log_error("%s", err);
		goto out;
	}
	if (a->cfg.mode == MODE_TUN && net_mark_available(a->cfg.fwmark) < 0) {
		if (unmarked_ok(&a->cfg, err, sizeof(err)) < 0) {
			log_error("%s", err);
			goto out;
		}
		net_mark_skip();
		a->unmarked = true;
		log_warn("cannot set SO_MARK (no CAP_NET_ADMIN): relying on the proxy server's "
			 "throw route");
	}
	if (a->cfg.dns.enable) {
		a->dns = dns_server_new(a->loop, a->resolver, a->relay, &a->cfg, err, sizeof(err));
		if (!a->dns) {
			log_error("%s", err);
			goto out;
		}
	}
	a->capture = capture_ops_for(&a->cfg);
	a->cap = a->capture->start(a->loop, a->relay, a->dns, &a->cfg, err, sizeof(err));
	if (!a->cap) {
		log_error("%s", err);
		goto out;
	}
	if (a->dns) {
		dns_server_set_learn(a->dns, on_learn, a);
		relay_set_namer(a->relay, fake_name, a->dns);
	}
	if (a->unmarked && proxy_routed_around(&a->cfg, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	proxy_prefetch(a);
	if (a->cfg.stats.enable) {
		struct stats_sources src = { a->relay, a->dns, a->capture, a->cap,
					     a->cfg.mode == MODE_TUN ? "tun" : "redirect" };

		a->stats = stats_start(a->loop, &a->cfg, &src, err, sizeof(err));
		if (!a->stats) {
			log_error("%s", err);
			goto out;
		}
	}
	if (a->cfg.user[0] && a->cfg.user_uid != a->start_uid) {
		/* Everything that needs root is done; removing routes/rules at exit and
		 * SO_MARK need only CAP_NET_ADMIN. Redirect mode's UDP replies leave from
		 * sockets bound to the destination's port, which may be below 1024 (NTP,
		 * QUIC on 443): those need CAP_NET_BIND_SERVICE (kept whatever the upstream,
		 * since a reload may bring one that carries UDP). */
		bool bind_low = a->cfg.mode == MODE_REDIRECT;

		if (privdrop_to(a->cfg.user_uid, a->cfg.user_gid, bind_low, err, sizeof(err)) < 0) {
			log_error("user: %s", err);
			goto out;
		}
		log_info("running as %s (uid %u, gid %u), keeping only CAP_NET_ADMIN%s",
			 a->cfg.user, (unsigned)a->cfg.user_uid, (unsigned)a->cfg.user_gid,
			 bind_low ? " and CAP_NET_BIND_SERVICE (UDP replies from ports below 1024)"
				  : "");
	}
	if (net_port_advice(err, sizeof(err)))
		log_warn("%s", err);

	/* The first round of the upstreams' checks ends before ready (check-timeout bounds it). */
	while (!relay_checks_ready(a->relay))
		ev_run(a->loop, EVRUN_ONCE);
	describe_upstreams(&a->cfg, upstream, sizeof(upstream));
	if (a->dns) {
		char la[NET_ADDRSTRLEN];
		size_t n = strlen(upstream);
		snprintf(upstream + n, sizeof(upstream) - n, ", dns on %s",
			 net_ntop(dns_server_listen_addr(a->dns), la, sizeof(la)));
	}
	desc = a->capture->describe(a->cap, where, sizeof(where));
	log_always("ready: %s, proxy %s", desc, upstream);
	notify_ready(desc);
	ev_run(a->loop, 0);
	rc = 0;
	if (a->capture->failed && a->capture->failed(a->cap))
		rc = 1; /* it said why */
out:
	/* Rules first: from here on, new connections must go straight out again. */
	if (a->cap && a->capture->stop_capture(a->cap, err, sizeof(err)) < 0) {
		log_error("%s", err);
		rc = 1;
	}
	stats_free(a->stats); /* it reads the relay, the resolver and the capture */
	a->stats = NULL;
	dns_server_free(a->dns); /* before the relay: its tunnels are relay sessions */
	relay_free(a->relay);
	if (a->cap)
		a->capture->free(a->cap);
	a->cap = NULL; /* no more learning */
	for (size_t i = 0; i < CONFIG_PROXIES_MAX; i++)
		resolver_cancel(a->prefetch[i]);
	if (a->resolver)
		resolver_set_backend(a->resolver, NULL, NULL, NULL);
	dns_lookup_free(a->lookup);
	resolver_free(a->resolver);
	ev_signal_stop(a->loop, &a->sig_term);
	ev_signal_stop(a->loop, &a->sig_int);
	ev_signal_stop(a->loop, &a->sig_hup);
	ev_signal_stop(a->loop, &a->sig_usr1);
	ev_loop_destroy(a->loop);
	return rc;
}

/* --setup: the persistent device and routes for `user:`, who then runs unprivileged. */
static int app_setup(struct config *cfg)
{
	char err[1024];

	if (cfg->mode != MODE_TUN) {
		log_error("setup: only for mode tun (%s)", cfg->path);
		return 1;
	}
	if (!cfg->user[0]) {
		log_error("setup: %s has no `user:`; it names who will own the device and run "
			  "snet-tun", cfg->path);
		return 1;
	}
	if (unmarked_ok(cfg, err, sizeof(err)) < 0) {
		log_error("setup: %s", err);
		return 1;
	}
	if (default_uids(cfg, cfg->user_uid, true) < 0)
		return 1;
	if (capture_tun_setup(cfg, cfg->user_uid, err, sizeof(err)) < 0) {
		log_error("setup: %s", err);
		return 1;
	}
	log_info("setup: done; %s can now run `snet-tun -c %s` without privileges, and "
		 "`snet-tun --cleanup -c %s` as root undoes this", cfg->user, cfg->path, cfg->path);
	return 0;
}

/* `snet-tun run [-c FILE] [--] COMMAND [ARGS...]`. */
static int run_main(int argc, char **argv)
{
	const char *path = "/etc/snet-tun/config.yaml";
	struct config cfg;
	char err[1024];
	int c, rc;

	optind = 1;
	while ((c = getopt(argc, argv, "+c:h")) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 127;
	}
	log_set_level(cfg.log_level);
	rc = cgroup_run(&cfg, argv + optind);
	config_free(&cfg);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'k' },
		{ "cleanup", no_argument, NULL, 'x' },      { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },         { "setup", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	bool check = false, cleanup = false, setup = false;
	struct app a;
	char err[1024];
	int c, rc;

	if (argc > 1 && !strcmp(argv[1], "top"))
		return top_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "run"))
		return run_main(argc - 1, argv + 1);
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'k': check = true; break;
		case 'x': cleanup = true; break;
		case 's': setup = true; break;
		case 'V': printf("snet-tun %s\n", SNET_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc || check + cleanup + setup > 1) {
		usage(stderr);
		return 2;
	}
	memset(&a, 0, sizeof(a));
	if (config_load(path, &a.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check) {
		config_free(&a.cfg);
		return 0;
	}
	log_set_level(a.cfg.log_level);
	a.start_uid = getuid();
	if (setup) {
		rc = app_setup(&a.cfg);
		config_free(&a.cfg);
		return rc;
	}
	if (cleanup) {
		const struct capture_ops *ops = capture_ops_for(&a.cfg);
		rc = ops->cleanup(&a.cfg, err, sizeof(err)) < 0 ? 1 : 0;
		if (rc)
			log_error("cleanup: %s", err);
		else
			log_info("cleanup: removed what mode %s may have left behind", ops->name);
		config_free(&a.cfg);
		return rc;
	}
	log_rule_data(&a.cfg);
	if (a.cfg.user[0] && a.cfg.user_uid != a.start_uid && a.start_uid != 0) {
		log_error("user: switching to %s needs root (running as uid %u)", a.cfg.user,
			  (unsigned)a.start_uid);
		config_free(&a.cfg);
		return 1;
	}
	if (default_uids(&a.cfg, a.start_uid, false) < 0) {
		config_free(&a.cfg);
		return 1;
	}
	rc = app_run(&a);
	config_free(&a.cfg);
	return rc;
}
