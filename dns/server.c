/* server.c -- the resolver (see server.h): the policy of one configuration (hosts, the
 * block/bypass/proxy suffix sets, disabled qtypes, the domestic CIDR set) and the order a
 * query goes through it -- local answers, fake-IP, the cache, the queries in flight
 * (dns/inflight.c) -- then what an upstream answer becomes: cached, learned, fitted to
 * each client; prefetch, the query log and the listeners' life cycle. */
#include "dns/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/config.h"
#include "base/domainset.h"
#include "base/log.h"
#include "base/net.h"
#include "base/util.h"
#include "dns/answer.h"
#include "dns/cache.h"
#include "base/cidrset.h"
#include "dns/fakeip.h"
#include "dns/inflight.h"
#include "dns/listen.h"
#include "dns/msg.h"
#include "dns/names.h"
#include "dns/revnames.h"
#include "dns/upstream.h"

#define FAKE_TTL 10 /* seconds: clients come back soon, the mapping lives longer */
#define LEARN_MIN_TTL 60

/* What the policy of one configuration is made of; swapped whole on reload. */
struct policy {
	struct dns_hosts *hosts;
	struct dns_names *block, *bypass, *proxy;
	struct domainset *block_files; /* a reference to the config's block-list set, or NULL */
	struct cidrset *domestic_set;
	uint32_t *disabled;
	size_t n_disabled;
	bool split, prefetch;
	double timeout;
};

struct dns_server {
	struct ev_loop *loop;
	struct resolver *res;
	struct relay *relay;
	uint32_t fwmark;
	struct dns_cache *cache;
	struct policy pol;
	struct dns_upset *ups;
	struct dns_inflights *inflight;
	struct dns_listen *listen, *listen6;
	/* gateway.enable in redirect mode with a loopback dns.listen: the wildcard addresses
	 * (same port) for the LAN's queries the prerouting chain redirects, LAN only. */
	struct dns_listen *listen_gw, *listen_gw6;
	struct fakeip *fake; /* NULL: fake-IP off */
	dns_learn_fn learn;
	void *learn_ctx;
	struct dns_revnames *revnames; /* NULL unless dns_server_keep_names */
	struct sockaddr_storage listen_addr;
	FILE *qlog;
	char qlog_path[CONFIG_PATH_MAX];
	struct dns_server_stats stats;
	uint8_t buf[DNS_MSG_MAX], out[DNS_MSG_MAX], plain[DNS_MSG_MAX];
};

/* One line per answered query: time, client, name, type, rcode, source, latency. */
static void qlog_write(struct dns_server *d, const struct dns_client *c,
		       const struct dns_question *q, const uint8_t *reply, size_t len,
		       const char *source, double t0)
{
	char when[40], who[NET_ADDRSTRLEN], name[DNS_NAME_TEXT_MAX], tb[16], rb[16];
	unsigned rc = len >= 4 ? reply[3] & 0xF : DNS_R_SERVFAIL;
	struct timespec ts;
	struct tm tm;

	if (!d->qlog && log_get_level() < LOG_DEBUG)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (dns_name_to_text(q->name, q->name_len, name) < 0)
		snprintf(name, sizeof(name), "?");
	net_ntop(&c->peer, who, sizeof(who));
	if (d->qlog)
		fprintf(d->qlog, "%s.%03ldZ %s %s %s %s %s %.1fms\n", when, ts.tv_nsec / 1000000,
			who, name, dns_type_name(q->qtype, tb, sizeof(tb)), dns_rcode_name(rc, rb, sizeof(rb)),
			source, (ev_time() - t0) * 1000);
	log_debug("dns: %s%s %s %s %s %s %.1fms", who, c->tcp ? "/tcp" : "", name,
		  dns_type_name(q->qtype, tb, sizeof(tb)), dns_rcode_name(rc, rb, sizeof(rb)), source,
		  (ev_time() - t0) * 1000);
}

/* ---- sending answers -------------------------------------------------------- */

static void send_reply(struct dns_server *d, const struct dns_msg *q, const struct dns_client *c,
		       const uint8_t *msg, size_t len, const char *source, double t0,
		       dns_reply_fn fn, void *ctx)
{
	qlog_write(d, c, &q->q, msg, len, source, t0);
	fn(ctx, c, msg, len);
}

static void send_error(struct dns_server *d, const struct dns_msg *q, const struct dns_client *c,
		       unsigned rcode, const char *source, double t0, dns_reply_fn fn, void *ctx)
{
	size_t len;

	if (dns_answer_error(q, NULL, rcode, d->out, dns_answer_max(q, c->tcp), &len) < 0) {
		/* Only an extended rcode without EDNS can fail: say SERVFAIL. */
		if (dns_answer_error(q, NULL, DNS_R_SERVFAIL, d->out, DNS_MSG_MAX, &len) < 0)
			return;
	}
	send_reply(d, q, c, d->out, len, source, t0, fn, ctx);
}

/* Sends ans (the client's ID and question already in it) fitted to the client; plain:
 * ans carries no OPT (it comes from the cache). */
static void send_fitted(struct dns_server *d, const struct dns_msg *q, const struct dns_client *c,
			const struct dns_msg *ans, bool plain, const char *source, double t0,
			dns_reply_fn fn, void *ctx)
{
	size_t len, max = dns_answer_max(q, c->tcp);

	if ((plain ? dns_answer_fit_plain(ans, q, max, d->out, &len)
		   : dns_answer_fit(ans, q, max, d->out, &len)) < 0) {
		d->stats.failed++;
		send_error(d, q, c, DNS_R_SERVFAIL, "failed", t0, fn, ctx);
		return;
	}
	send_reply(d, q, c, d->out, len, source, t0, fn, ctx);
}

/* ---- upstream sets and policy -------------------------------------------- */

static void policy_free(struct policy *p)
{
	dns_hosts_free(p->hosts);
	dns_names_free(p->block);
	domainset_unref(p->block_files);
	dns_names_free(p->bypass);
	dns_names_free(p->proxy);
	cidrset_free(p->domestic_set);
	free(p->disabled);
	memset(p, 0, sizeof(*p));
}

static int policy_build(struct policy *p, const struct config *cfg, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->hosts = dns_hosts_new(&cfg->dns, err, errlen);
	if (!p->hosts)
		goto fail;
	p->block = dns_names_new(&cfg->rules.block_domains, err, errlen);
	if (!p->block)
		goto fail;
	p->block_files = cfg->rules.block_set;
	domainset_ref(p->block_files);
	p->bypass = dns_names_new(&cfg->rules.bypass_domains, err, errlen);
	if (!p->bypass)
		goto fail;
	p->proxy = dns_names_new(&cfg->rules.proxy_domains, err, errlen);
	if (!p->proxy)
		goto fail;
	/* Domestic: inside the CN list or a bypass CIDR (a LAN resolver's own names). */
	{
		const struct cidr_list *cn = &cfg->rules.cn_cidrs, *by = &cfg->rules.bypass_cidrs;
		struct cidr *all = calloc(cn->n + by->n + 1, sizeof(*all));
		if (all) {
			if (cn->n)
				memcpy(all, cn->v, cn->n * sizeof(*all));
			if (by->n)
				memcpy(all + cn->n, by->v, by->n * sizeof(*all));
			p->domestic_set = cidrset_new(all, cn->n + by->n);
			free(all);
		}
	}
	p->disabled = calloc(cfg->dns.disable_qtypes.n + 1, sizeof(*p->disabled));
	if (!p->domestic_set || !p->disabled) {
		snprintf(err, errlen, "dns: out of memory");
		goto fail;
	}
	if (cfg->dns.disable_qtypes.n)
		memcpy(p->disabled, cfg->dns.disable_qtypes.v,
		       cfg->dns.disable_qtypes.n * sizeof(*p->disabled));
	p->n_disabled = cfg->dns.disable_qtypes.n;
	p->split = cfg->dns.split;
	p->prefetch = cfg->dns.prefetch;
	p->timeout = cfg->dns.timeout;
	return 0;
fail:
	policy_free(p);
	return -1;
}

static int qlog_open(struct dns_server *d, const char *path, FILE **out, char *err,
		     size_t errlen)
{
	FILE *f;

	*out = NULL;
	if (!path[0])
		return 0;
	f = fopen(path, "a");
	if (!f) {
		snprintf(err, errlen, "dns.query-log: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	(void)d;
	*out = f;
	return 0;
}

/* ---- learned addresses and fake answers ------------------------------------ */

/* Tells the capture the addresses in ans when q's name is in proxy- or bypass-domains. */
/* The stats view's names: each A/AAAA answer's addresses to the name asked, kept at least
 * NAMES_MIN_TTL seconds (an answer with TTL 0 still names the connection it was for). */
#define NAMES_MIN_TTL 300
static void remember_names(struct dns_server *d, const struct dns_question *q,
			   const struct dns_msg *ans)
{
	char text[DNS_NAME_TEXT_MAX];
	struct dns_rr_iter it;
	struct dns_rr rr;
	size_t len;

	if (!d->revnames || (q->qtype != DNS_T_A && q->qtype != DNS_T_AAAA))
		return;
	if (dns_name_to_text(q->name, q->name_len, text) < 0)
		return;
	len = strlen(text);
	if (len > 1 && text[len - 1] == '.')
		text[len - 1] = '\0';
	dns_rr_iter_init(&it, ans);
	while (dns_rr_next(&it, &rr) && rr.section == DNS_SEC_ANSWER) {
		if ((rr.type == DNS_T_A && rr.rdlen == 4) || (rr.type == DNS_T_AAAA && rr.rdlen == 16))
			dns_revnames_put(d->revnames, rr.type == DNS_T_A ? AF_INET : AF_INET6,
					 rr.rdata, text,
					 ev_now(d->loop) + (rr.ttl > NAMES_MIN_TTL ? rr.ttl : NAMES_MIN_TTL));
	}
}

static void learn_from(struct dns_server *d, const struct dns_question *q,
		       const struct dns_msg *ans)
{
	remember_names(d, q, ans);
	struct dns_learned v[64];
	struct dns_rr_iter it;
	struct dns_rr rr;
	bool proxy;
	size_t n = 0;

	if (!d->learn)
		return;
	if (dns_names_match(d->pol.proxy, q->name, q->name_len))
		proxy = true;
	else if (dns_names_match(d->pol.bypass, q->name, q->name_len))
		proxy = false;
	else
		return;
	dns_rr_iter_init(&it, ans);
	while (n < 64 && dns_rr_next(&it, &rr) && rr.section == DNS_SEC_ANSWER) {
		if (!((rr.type == DNS_T_A && rr.rdlen == 4) || (rr.type == DNS_T_AAAA && rr.rdlen == 16)))
			continue;
		v[n].family = rr.type == DNS_T_A ? AF_INET : AF_INET6;
		memset(v[n].addr, 0, 16);
		memcpy(v[n].addr, rr.rdata, rr.rdlen);
		v[n].ttl = rr.ttl < LEARN_MIN_TTL ? LEARN_MIN_TTL : rr.ttl;
		n++;
	}
	if (n) {
		d->stats.learned += n;
		d->learn(d->learn_ctx, proxy, v, n);
	}
}

/* Whether q (no list but maybe proxy-domains matched) is answered from the fake pool. */
static bool fake_eligible(const struct dns_server *d, const struct dns_question *q)
{
	return d->fake && q->qclass == DNS_C_IN &&
	       (q->qtype == DNS_T_A || q->qtype == DNS_T_AAAA) &&
	       !dns_names_match(d->pol.bypass, q->name, q->name_len);
}

static void send_fake(struct dns_server *d, const struct dns_msg *q, const struct dns_client *c,
		      double t0, dns_reply_fn fn, void *ctx)
{
	uint8_t a4[4], a6[16];
	const uint8_t *addr;
	size_t len;

	fakeip_assign(d->fake, q->q.name, q->q.name_len, a4, a6);
	addr = q->q.qtype == DNS_T_A ? a4 : fakeip_has_v6(d->fake) ? a6 : NULL;
	d->stats.fake++;
	if (dns_answer_addr(q, q->q.qtype, addr, FAKE_TTL, dns_answer_max(q, c->tcp), d->out,
			    &len) < 0) {
		d->stats.failed++;
		send_error(d, q, c, DNS_R_SERVFAIL, "failed", t0, fn, ctx);
		return;
	}
	send_reply(d, q, c, d->out, len, "fake", t0, fn, ctx);
}

/* The address bytes of an IPv4 or IPv6 socket address (4 or 16), NULL for others. */
static const uint8_t *addr_bytes(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
	if (ss->ss_family == AF_INET6)
		return (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	return NULL;
}

int dns_server_fake_name(struct dns_server *d, const struct sockaddr_storage *dst, char *host,
			 size_t hostlen)
{
	const uint8_t *a;

	if (!d || !d->fake || !(a = addr_bytes(dst)))
		return -1;
	return fakeip_name(d->fake, dst->ss_family, a, host, hostlen);
}

int dns_server_keep_names(struct dns_server *d, size_t max)
{
	if (!d->revnames && !(d->revnames = dns_revnames_new(max)))
		return -1;
	return 0;
}

int dns_server_name_of(struct dns_server *d, const struct sockaddr_storage *dst, char *host,
		       size_t hostlen)
{
	const uint8_t *a;

	if (!d->revnames || !(a = addr_bytes(dst)))
		return -1;
	return dns_revnames_get(d->revnames, dst->ss_family, a, ev_now(d->loop), host, hostlen);
}

void dns_server_set_learn(struct dns_server *d, dns_learn_fn fn, void *ctx)
{
	d->learn = fn;
	d->learn_ctx = ctx;
}

const double dns_latency_bounds[DNS_LATENCY_BUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1,
							  0.25,	 0.5,  1,     2.5,  5 };

static void count_latency(struct dns_server *d, double s)
{
	size_t i;

	for (i = 0; i < DNS_LATENCY_BUCKETS && s > dns_latency_bounds[i]; i++)
		;
	d->stats.latency_bucket[i]++;
	d->stats.latency_sum += s;
}

/* A query in flight ended (dns_inflight_done_fn): ans (NULL: none) is cached, told to the
 * capture, and served to every waiter from the cache (so each gets its own ID, its
 * question's case and the clamped TTLs). */
static void inflight_done(void *ctx, const struct dns_question *q, struct dns_waiters *waiters,
			  const struct dns_msg *ans, const char *source)
{
	struct dns_server *d = ctx;
	double now = ev_now(d->loop);
	bool cached = false, fake = !strcmp(source, "fake");
	struct dns_waiter *w;

	if (ans) {
		struct dns_msg plain;
		/* Kept without the upstream's OPT: a hit then needs no parse to be fitted. */
		if (dns_answer_strip_opt(ans, d->plain, &plain) == 0)
			cached = dns_cache_put(d->cache, &plain, now) == 1;
		learn_from(d, q, ans);
	}
	while ((w = TAILQ_FIRST(waiters))) {
		TAILQ_REMOVE(waiters, w, link);
		if (fake) {
			send_fake(d, &w->q, &w->c, w->t0, w->fn, w->ctx);
		} else if (!ans) {
			d->stats.failed++;
			send_error(d, &w->q, &w->c, DNS_R_SERVFAIL, "failed", w->t0, w->fn, w->ctx);
		} else {
			struct dns_msg m;
			bool plain = cached && dns_cache_peek(d->cache, &w->q.q, w->q.id, now, d->buf,
							      sizeof(d->buf), &m) == 1;
			if (!plain) /* not cacheable: the answer with this client's ID and case */
				dns_msg_copy_for(ans, w->q.id, &w->q.q, d->buf, &m);
			if (!strcmp(source, "domestic"))
				d->stats.domestic++;
			else
				d->stats.foreign++;
			count_latency(d, ev_time() - w->t0);
			send_fitted(d, &w->q, &w->c, &m, plain, source, w->t0, w->fn, w->ctx);
		}
		free(w);
	}
}

/* Which sides a name is asked: bypass-domains the domestic side alone, proxy-domains and
 * split: false the foreign side alone, the others both (or, with fake-IP, the domestic
 * side deciding alone). */
static enum dns_route route_for(const struct dns_server *d, const struct dns_question *q)
{
	bool dom = d->ups->n[DNS_DOMESTIC] > 0;

	if (dns_names_match(d->pol.proxy, q->name, q->name_len))
		return DNS_ROUTE_FOREIGN;
	if (dom && dns_names_match(d->pol.bypass, q->name, q->name_len))
		return DNS_ROUTE_DOMESTIC;
	if (fake_eligible(d, q) && d->pol.split && dom)
		return DNS_ROUTE_FAKE;
	if (!d->pol.split || !dom)
		return DNS_ROUTE_FOREIGN;
	return DNS_ROUTE_SPLIT;
}

/* Starts resolving q (w may be NULL: a prefetch). On failure to start, w gets SERVFAIL. */
static void resolve(struct dns_server *d, const struct dns_question *q, struct dns_waiter *w)
{
	if (dns_inflights_start(d->inflight, q, route_for(d, q), d->ups, w) == 0 || !w)
		return;
	log_warn("dns: too many queries in flight (%llu): answering SERVFAIL",
		 (unsigned long long)dns_inflights_count(d->inflight));
	d->stats.failed++;
	send_error(d, &w->q, &w->c, DNS_R_SERVFAIL, "failed", w->t0, w->fn, w->ctx);
	free(w);
}

/* ---- a query arrives ------------------------------------------------------ */

static bool qtype_disabled(const struct dns_server *d, uint16_t t)
{
	for (size_t i = 0; i < d->pol.n_disabled; i++)
		if (d->pol.disabled[i] == t)
			return true;
	return false;
}

int dns_server_query(struct dns_server *d, const uint8_t *msg, size_t len,
		     const struct dns_client *c, dns_reply_fn fn, void *ctx)
{
	double t0 = ev_time();
	struct dns_msg q, hit;
	struct dns_waiter *w;
	size_t olen;
	bool prefetch = false;
	char err[160];
	int rc;

	d->stats.queries++;
	if (len < DNS_HEADER_LEN || (msg[2] & (DNS_F_QR >> 8))) {
		d->stats.dropped++;
		return 0;
	}
	if (dns_msg_parse(&q, msg, len, err, sizeof(err)) < 0 || q.qdcount != 1) {
		log_debug("dns: malformed query: %s", q.qdcount != 1 ? "not one question" : err);
		if (dns_answer_error(NULL, msg, DNS_R_FORMERR, d->out, DNS_UDP_MIN, &olen) < 0) {
			d->stats.dropped++;
			return 0;
		}
		fn(ctx, c, d->out, olen);
		return 1;
	}
	q.wire = NULL; /* only header fields, question and EDNS are used from here on */
	if (dns_flags_opcode(q.flags) != 0 || q.q.qtype == 251 || q.q.qtype == 252) {
		/* Only QUERY; zone transfers need more than one message. */
		d->stats.local++;
		send_error(d, &q, c, DNS_R_NOTIMP, "local", t0, fn, ctx);
		return 1;
	}
	if (q.edns.present && q.edns.version > 0) {
		d->stats.local++;
		send_error(d, &q, c, DNS_R_BADVERS, "local", t0, fn, ctx);
		return 1;
	}
	if (dns_names_match(d->pol.block, q.q.name, q.q.name_len) ||
	    domainset_match_wire(d->pol.block_files, q.q.name, q.q.name_len)) {
		d->stats.local++;
		d->stats.blocked++;
		send_error(d, &q, c, DNS_R_NXDOMAIN, "local", t0, fn, ctx);
		return 1;
	}
	rc = dns_hosts_answer(d->pol.hosts, &q, dns_answer_max(&q, c->tcp), d->out, &olen);
	if (rc != 0) {
		d->stats.local++;
		d->stats.hosts++;
		if (rc < 0)
			send_error(d, &q, c, DNS_R_SERVFAIL, "local", t0, fn, ctx);
		else
			send_reply(d, &q, c, d->out, olen, "local", t0, fn, ctx);
		return 1;
	}
	if (qtype_disabled(d, q.q.qtype)) {
		d->stats.local++;
		send_error(d, &q, c, DNS_R_NOERROR, "local", t0, fn, ctx);
		return 1;
	}
	/* Fake-IP: proxied names get their pool address at once; other names (no list) too
	 * once they have one, or when nobody could tell they are domestic. */
	if (fake_eligible(d, &q.q) &&
	    (dns_names_match(d->pol.proxy, q.q.name, q.q.name_len) || !d->pol.split ||
	     !d->ups->n[DNS_DOMESTIC] || fakeip_known(d->fake, q.q.name, q.q.name_len))) {
		send_fake(d, &q, c, t0, fn, ctx);
		return 1;
	}
	if (dns_cache_get(d->cache, &q.q, q.id, ev_now(d->loop), d->buf, sizeof(d->buf), &hit,
			  &prefetch) == 1) {
		d->stats.cache_hits++;
		learn_from(d, &q.q, &hit);
		send_fitted(d, &q, c, &hit, true, "cache", t0, fn, ctx);
		if (prefetch && d->pol.prefetch && !dns_inflights_join(d->inflight, &q.q, NULL)) {
			d->stats.prefetches++;
			resolve(d, &q.q, NULL);
		}
		return 1;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		d->stats.failed++;
		send_error(d, &q, c, DNS_R_SERVFAIL, "failed", t0, fn, ctx);
		return 1;
	}
	w->q = q;
	w->c = *c;
	w->fn = fn;
	w->ctx = ctx;
	w->t0 = t0;
	if (dns_inflights_join(d->inflight, &q.q, w)) {
		d->stats.coalesced++;
		return 1;
	}
	resolve(d, &q.q, w);
	return 1;
}

/* What the listeners call for each query. */
static int server_query(void *ctx, const uint8_t *msg, size_t len, const struct dns_client *c,
			dns_reply_fn fn, void *fn_ctx)
{
	return dns_server_query(ctx, msg, len, c, fn, fn_ctx);
}

/* ---- life cycle ----------------------------------------------------------- */

static bool loopback4(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET &&
	       (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
}

static bool loopback(const struct sockaddr_storage *ss)
{
	return loopback4(ss) ||
	       (ss->ss_family == AF_INET6 &&
		IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr));
}

/* The gateway's wildcard listeners: 0.0.0.0 (IPv4 dns.listen) and [::] (with an IPv6
 * loopback one open), at dns.listen's port, answering the LAN and loopback only. */
static int gateway_listeners(struct dns_server *d, const struct config *cfg, char *err,
			     size_t errlen)
{
	const struct cidr_list *lan = &cfg->gateway.lan;
	uint16_t port = net_port(&cfg->dns.listen);
	struct sockaddr_storage a;
	char why[256];

	if (cfg->dns.listen.ss_family == AF_INET) {
		net_pton("0.0.0.0", port, &a);
		d->listen_gw = dns_listen_new(d->loop, server_query, d, &a, true, err, errlen);
		if (!d->listen_gw || dns_listen_restrict(d->listen_gw, lan->v, lan->n) < 0) {
			if (d->listen_gw)
				snprintf(err, errlen, "dns: out of memory");
			return -1;
		}
	}
	if (d->listen6 || cfg->dns.listen.ss_family == AF_INET6) {
		net_pton("::", port, &a);
		d->listen_gw6 = dns_listen_new(d->loop, server_query, d, &a, true, why, sizeof(why));
		if (!d->listen_gw6) {
			log_warn("%s; the LAN's IPv6 DNS queries are not redirected", why);
		} else if (dns_listen_restrict(d->listen_gw6, lan->v, lan->n) < 0) {
			snprintf(err, errlen, "dns: out of memory");
			return -1;
		}
	}
	return 0;
}

struct dns_server *dns_server_new(struct ev_loop *loop, struct resolver *res,
				  struct relay *relay, const struct config *cfg, char *err,
				  size_t errlen)
{
	/* The LAN's redirected queries arrive at a non-loopback address of ours. */
	const bool gw = cfg->gateway.enable && cfg->mode == MODE_REDIRECT &&
			loopback(&cfg->dns.listen);
	struct dns_server *d;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "dns: libsodium failed to initialise");
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "dns: out of memory");
		return NULL;
	}
	d->loop = loop;
	d->res = res;
	d->relay = relay;
	d->fwmark = cfg->fwmark;
	d->cache = dns_cache_new(cfg->dns.cache_size, cfg->dns.min_ttl, cfg->dns.max_ttl);
	d->ups = dns_upset_new(loop, res, relay, d->fwmark, &cfg->dns);
	d->inflight = dns_inflights_new(loop, inflight_done, d);
	if (!d->cache || !d->ups || !d->inflight) {
		snprintf(err, errlen, "dns: out of memory");
		goto fail;
	}
	if (policy_build(&d->pol, cfg, err, errlen) < 0)
		goto fail;
	dns_inflights_configure(d->inflight, d->pol.domestic_set, d->pol.timeout);
	if (qlog_open(d, cfg->dns.query_log, &d->qlog, err, errlen) < 0)
		goto fail;
	if (cfg->dns.fake_ip.enable && cfg->proxy.type == PROXY_TYPE_DIRECT) {
		snprintf(err, errlen, "dns.fake-ip needs a proxy that connects by name (ss, http or "
			 "socks5), not direct");
		goto fail;
	}
	if (cfg->dns.fake_ip.enable && !(d->fake = fakeip_new(&cfg->dns.fake_ip))) {
		snprintf(err, errlen, "dns: fake-ip: out of memory");
		goto fail;
	}
	snprintf(d->qlog_path, sizeof(d->qlog_path), "%s", cfg->dns.query_log);
	d->listen_addr = cfg->dns.listen;
	d->listen = dns_listen_new(loop, server_query, d, &cfg->dns.listen, gw, err, errlen);
	if (!d->listen)
		goto fail;
	if (cfg->mode == MODE_REDIRECT && cfg->redirect.install_rules &&
	    loopback4(&cfg->dns.listen)) {
		struct sockaddr_storage a6;
		char why[256];
		net_pton("::1", net_port(&cfg->dns.listen), &a6);
		d->listen6 = dns_listen_new(loop, server_query, d, &a6, gw, why, sizeof(why));
		if (!d->listen6)
			log_warn("%s; IPv6 DNS queries are not redirected to the resolver", why);
	}
	if (gw && gateway_listeners(d, cfg, err, errlen) < 0)
		goto fail;
	return d;
fail:
	dns_server_free(d);
	return NULL;
}

int dns_server_reopen_log(struct dns_server *d, char *err, size_t errlen)
{
	FILE *f;

	if (!d->qlog_path[0])
		return 0;
	if (qlog_open(d, d->qlog_path, &f, err, errlen) < 0)
		return -1; /* the old file stays open: no line is lost */
	if (d->qlog)
		fclose(d->qlog);
	d->qlog = f;
	return 1;
}

int dns_server_reconfigure(struct dns_server *d, const struct config *cfg, char *err,
			   size_t errlen)
{
	struct policy pol;
	struct dns_upset *ups;
	FILE *qlog = NULL;

	if (policy_build(&pol, cfg, err, errlen) < 0)
		return -1;
	d->fwmark = cfg->fwmark;
	ups = dns_upset_new(d->loop, d->res, d->relay, d->fwmark, &cfg->dns);
	if (!ups) {
		snprintf(err, errlen, "dns: out of memory");
		policy_free(&pol);
		return -1;
	}
	if (strcmp(cfg->dns.query_log, d->qlog_path) || !d->qlog) {
		if (qlog_open(d, cfg->dns.query_log, &qlog, err, errlen) < 0) {
			dns_upset_put(ups);
			policy_free(&pol);
			return -1;
		}
		if (d->qlog)
			fclose(d->qlog);
		d->qlog = qlog;
		snprintf(d->qlog_path, sizeof(d->qlog_path), "%s", cfg->dns.query_log);
	}
	if (cfg->dns.fake_ip.enable && cfg->proxy.type == PROXY_TYPE_DIRECT) {
		snprintf(err, errlen, "dns.fake-ip needs a proxy that connects by name (ss, http or "
			 "socks5), not direct");
		dns_upset_put(ups);
		policy_free(&pol);
		return -1;
	}
	if (!cfg->dns.fake_ip.enable) {
		fakeip_free(d->fake);
		d->fake = NULL;
	} else if (!fakeip_same(d->fake, &cfg->dns.fake_ip)) {
		struct fakeip *nf = fakeip_new(&cfg->dns.fake_ip);
		if (!nf) {
			snprintf(err, errlen, "dns: fake-ip: out of memory");
			dns_upset_put(ups);
			policy_free(&pol);
			return -1;
		}
		if (d->fake)
			log_warn("reload: dns.fake-ip changed: names get new fake addresses");
		fakeip_free(d->fake);
		d->fake = nf;
	}
	policy_free(&d->pol);
	d->pol = pol;
	dns_inflights_configure(d->inflight, d->pol.domestic_set, d->pol.timeout);
	dns_upset_put(d->ups); /* queries in flight keep the old set until they end */
	d->ups = ups;
	if (!net_sockaddr_equal(&cfg->dns.listen, &d->listen_addr))
		log_warn("reload: dns.listen takes effect only after a restart");
	/* A new gateway.lan: out of memory keeps the old one. */
	if ((d->listen_gw && dns_listen_restrict(d->listen_gw, cfg->gateway.lan.v,
						  cfg->gateway.lan.n) < 0) ||
	    (d->listen_gw6 && dns_listen_restrict(d->listen_gw6, cfg->gateway.lan.v,
						   cfg->gateway.lan.n) < 0))
		log_warn("reload: dns: out of memory taking the new gateway.lan");
	return 0;
}

void dns_server_free(struct dns_server *d)
{
	if (!d)
		return;
	/* Listeners first: their connections must not wait for answers dropped below. */
	dns_listen_free(d->listen);
	dns_listen_free(d->listen6);
	dns_listen_free(d->listen_gw);
	dns_listen_free(d->listen_gw6);
	dns_inflights_free(d->inflight);
	dns_upset_put(d->ups);
	policy_free(&d->pol);
	dns_cache_free(d->cache);
	fakeip_free(d->fake);
	dns_revnames_free(d->revnames);
	if (d->qlog)
		fclose(d->qlog);
	free(d);
}

uint16_t dns_server_port(const struct dns_server *d)
{
	return net_port(&d->listen_addr);
}

bool dns_server_has_ipv6(const struct dns_server *d)
{
	return d->listen6 != NULL || d->listen_addr.ss_family == AF_INET6;
}

bool dns_server_has_gateway_ipv6(const struct dns_server *d)
{
	return d->listen_gw6 != NULL ||
	       (d->listen_addr.ss_family == AF_INET6 &&
		IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&d->listen_addr)->sin6_addr));
}

const struct sockaddr_storage *dns_server_listen_addr(const struct dns_server *d)
{
	return &d->listen_addr;
}

const struct dns_server_stats *dns_server_stats(struct dns_server *d)
{
	d->stats.inflight = dns_inflights_count(d->inflight);
	d->stats.upstream_queries = dns_inflights_sent(d->inflight);
	d->stats.cache_entries = dns_cache_stats(d->cache)->entries;
	return &d->stats;
}
