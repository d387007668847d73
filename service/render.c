/* render.c -- the stats endpoint's bodies: /metrics in the Prometheus text exposition
 * format (0.0.4), /connections, /upstreams and /dns as JSON built with jansson. Every
 * figure comes from what the modules count for themselves (relay_stats and the relay's
 * reports, dns_server_stats, the capture's stats op); nothing here keeps state. */
#include "service/render.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "dns/server.h"
#include "relay/relay.h"
#include "relay/udp.h"

/* ---- text ------------------------------------------------------------- */

struct text {
	struct buf b;
	bool failed; /* out of memory or over STATS_BODY_MAX: the body is dropped */
};

static void __attribute__((format(printf, 2, 3))) tprintf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (int pass = 0; pass < 2; pass++) {
		size_t room = t->b.cap - t->b.len;

		va_start(ap, fmt);
		n = vsnprintf((char *)t->b.data + t->b.len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < room) {
			t->b.len += (size_t)n;
			return;
		}
		if (t->b.len + (size_t)n + 1 > STATS_BODY_MAX || buf_reserve(&t->b, (size_t)n + 1) < 0) {
			t->failed = true;
			return;
		}
	}
}

/* A label value: backslash, double quote and newline escaped (at most 63 bytes used). */
static const char *label(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s && o + 3 < outlen; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	tprintf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct text *t, const char *name, const char *type, const char *help,
		unsigned long long v)
{
	family(t, name, type, help);
	tprintf(t, "%s %llu\n", name, v);
}

/* ---- /metrics --------------------------------------------------------- */

struct up_pass {
	struct text *t;
	const char *mode;
	int which;
};

enum { UP_OPEN, UP_TOTAL, UP_BYTES_UP, UP_BYTES_DOWN, UP_HEALTH, UP_LATENCY, UP_PASSES };

static void metrics_upstream(void *ctx, const struct relay_upstream_figures *u)
{
	struct up_pass *p = ctx;
	char name[128], mode[32];
	const char *l = label(u->name, name, sizeof(name));

	label(p->mode, mode, sizeof(mode));
	switch (p->which) {
	case UP_OPEN:
		tprintf(p->t, "snet_connections_open{mode=\"%s\",proto=\"tcp\",upstream=\"%s\"} %llu\n",
			mode, l, (unsigned long long)u->sessions_open);
		break;
	case UP_TOTAL:
		tprintf(p->t,
			"snet_connections_total{mode=\"%s\",proto=\"tcp\",upstream=\"%s\"} %llu\n",
			mode, l, (unsigned long long)u->sessions_total);
		break;
	case UP_BYTES_UP:
		tprintf(p->t, "snet_upstream_bytes_total{direction=\"up\",upstream=\"%s\"} %llu\n", l,
			(unsigned long long)u->bytes_up);
		break;
	case UP_BYTES_DOWN:
		tprintf(p->t, "snet_upstream_bytes_total{direction=\"down\",upstream=\"%s\"} %llu\n",
			l, (unsigned long long)u->bytes_down);
		break;
	case UP_HEALTH:
		if (u->member)
			tprintf(p->t, "snet_upstream_up{upstream=\"%s\"} %d\n", l,
				strcmp(u->health, "up") == 0);
		break;
	case UP_LATENCY:
		if (u->member && u->latency >= 0)
			tprintf(p->t, "snet_upstream_check_latency_seconds{upstream=\"%s\"} %.6f\n", l,
				u->latency);
		break;
	}
}

static void metrics_upstreams(struct text *t, const struct stats_sources *src)
{
	static const struct {
		const char *name, *type, *help;
	} fam[UP_PASSES] = {
		[UP_OPEN] = { "snet_connections_open", "gauge",
			      "Relayed connections open now, by mode, protocol and upstream." },
		[UP_TOTAL] = { "snet_connections_total", "counter",
			       "Relayed connections opened since start, by mode, protocol and "
			       "upstream." },
		[UP_BYTES_UP] = { NULL, NULL, NULL }, /* one family for both directions */
		[UP_BYTES_DOWN] = { "snet_upstream_bytes_total", "counter",
				    "Bytes relayed through each upstream: up (client to upstream) "
				    "and down." },
		[UP_HEALTH] = { "snet_upstream_up", "gauge",
				"Whether the upstream is up (1) or not (0: down or not known yet)." },
		[UP_LATENCY] = { "snet_upstream_check_latency_seconds", "gauge",
				 "The last good active check's latency, per upstream." },
	};
	struct up_pass p = { t, src->mode, 0 };

	const struct udp_stats *us = relay_udp_stats(src->relay);
	char mode[32];

	label(src->mode, mode, sizeof(mode));
	for (p.which = 0; p.which < UP_PASSES; p.which++) {
		/* UDP flows are counted by the UDP relay as a whole, not per upstream. */
		if (us && p.which == UP_OPEN + 1)
			tprintf(t, "snet_connections_open{mode=\"%s\",proto=\"udp\",upstream=\"all\"} "
				   "%llu\n", mode, (unsigned long long)us->flows_active);
		if (us && p.which == UP_TOTAL + 1)
			tprintf(t, "snet_connections_total{mode=\"%s\",proto=\"udp\",upstream=\"all\"} "
				   "%llu\n", mode, (unsigned long long)us->flows_total);
		if (p.which == UP_BYTES_UP)
			family(t, fam[UP_BYTES_DOWN].name, fam[UP_BYTES_DOWN].type,
			       fam[UP_BYTES_DOWN].help);
		else if (p.which != UP_BYTES_DOWN)
			family(t, fam[p.which].name, fam[p.which].type, fam[p.which].help);
		relay_upstreams_foreach(src->relay, metrics_upstream, &p);
	}
}

static void metrics_relay(struct text *t, const struct relay_stats *rs)
{
	one(t, "snet_relay_sessions_total", "counter",
	    "Relay sessions opened since start (connections, DNS tunnels, checks).",
	    (unsigned long long)rs->sessions_total);
	one(t, "snet_relay_sessions_active", "gauge", "Relay sessions open now.",
	    (unsigned long long)rs->sessions_active);
	one(t, "snet_connect_failures_total", "counter",
	    "Sessions that ended before bytes flowed, or were refused with no upstream up.",
	    (unsigned long long)rs->connect_failures);
	one(t, "snet_connect_addrnotavail_total", "counter",
	    "Upstream connects that failed with EADDRNOTAVAIL: no local port was free.",
	    (unsigned long long)rs->connect_addrnotavail);
	family(t, "snet_bytes_total", "counter",
	       "Bytes relayed: up (client to upstream) and down (upstream to client).");
	tprintf(t, "snet_bytes_total{direction=\"up\"} %llu\n", (unsigned long long)rs->bytes_up);
	tprintf(t, "snet_bytes_total{direction=\"down\"} %llu\n",
		(unsigned long long)rs->bytes_down);
}

static double hit_ratio(const struct dns_server_stats *ds)
{
	uint64_t asked = ds->cache_hits + ds->domestic + ds->foreign;

	return asked ? (double)ds->cache_hits / (double)asked : 0;
}

static void metrics_dns(struct text *t, const struct dns_server_stats *ds)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
#define C(f, h) { "snet_dns_" #f "_total", h, offsetof(struct dns_server_stats, f) }
		C(queries, "DNS queries received."),
		C(cache_hits, "Queries answered from the cache."),
		C(local, "Queries answered locally (blocked, hosts, refused types and opcodes)."),
		C(blocked, "Queries answered NXDOMAIN by rules.block-domains."),
		C(hosts, "Queries answered from dns.hosts."),
		C(domestic, "Queries answered by the domestic side."),
		C(foreign, "Queries answered by the foreign side."),
		C(failed, "Queries answered SERVFAIL."),
		C(coalesced, "Queries that joined one already in flight."),
		C(upstream_queries, "Queries sent to any upstream."),
		C(prefetches, "Cache entries refreshed ahead of expiry."),
		C(dropped, "Messages dropped: no header, or a response."),
		C(fake, "Queries answered from the fake-IP pool."),
		C(learned, "Addresses told to the capture."),
#undef C
	};
	uint64_t cum = 0;

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		one(t, counters[i].name, "counter", counters[i].help,
		    (unsigned long long)*(const uint64_t *)((const char *)ds + counters[i].off));
	family(t, "snet_dns_answers_total", "counter",
	       "DNS queries by where their answer came from.");
	tprintf(t, "snet_dns_answers_total{source=\"cache\"} %llu\n",
		(unsigned long long)ds->cache_hits);
	tprintf(t, "snet_dns_answers_total{source=\"upstream\"} %llu\n",
		(unsigned long long)(ds->domestic + ds->foreign));
	tprintf(t, "snet_dns_answers_total{source=\"blocked\"} %llu\n",
		(unsigned long long)ds->blocked);
	tprintf(t, "snet_dns_answers_total{source=\"hosts\"} %llu\n", (unsigned long long)ds->hosts);
	tprintf(t, "snet_dns_answers_total{source=\"fake\"} %llu\n", (unsigned long long)ds->fake);
	one(t, "snet_dns_inflight", "gauge", "DNS questions waiting for an upstream now.",
	    (unsigned long long)ds->inflight);
	one(t, "snet_dns_cache_entries", "gauge", "Answers held in the DNS cache.",
	    (unsigned long long)ds->cache_entries);
	family(t, "snet_dns_cache_hit_ratio", "gauge",
	       "Cache hits over the queries that needed the cache or an upstream.");
	tprintf(t, "snet_dns_cache_hit_ratio %.6f\n", hit_ratio(ds));
	family(t, "snet_dns_upstream_latency_seconds", "histogram",
	       "Time from a query's arrival to an upstream's answer for it.");
	for (size_t i = 0; i < DNS_LATENCY_BUCKETS; i++) {
		cum += ds->latency_bucket[i];
		tprintf(t, "snet_dns_upstream_latency_seconds_bucket{le=\"%g\"} %llu\n",
			dns_latency_bounds[i], (unsigned long long)cum);
	}
	cum += ds->latency_bucket[DNS_LATENCY_BUCKETS];
	tprintf(t, "snet_dns_upstream_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)cum);
	tprintf(t, "snet_dns_upstream_latency_seconds_sum %.6f\n", ds->latency_sum);
	tprintf(t, "snet_dns_upstream_latency_seconds_count %llu\n", (unsigned long long)cum);
}

/* The capture's "key value ..." counters, each as snet_capture_KEY (udp-flows as
 * snet_udp_flows). */
static void metrics_capture(struct text *t, const struct stats_sources *src)
{
	char line[512], name[96], *save = NULL, *key, *val;

	if (!src->capture || !src->capture->stats || !src->cap)
		return;
	line[0] = '\0';
	src->capture->stats(src->cap, line, sizeof(line));
	for (key = strtok_r(line, " ", &save); key; key = strtok_r(NULL, " ", &save)) {
		char *end;
		unsigned long long v;
		size_t n = 0;

		val = strtok_r(NULL, " ", &save);
		if (!val)
			break;
		v = strtoull(val, &end, 10);
		if (*end)
			continue;
		if (strcmp(key, "udp-flows") == 0) {
			one(t, "snet_udp_flows", "gauge", "UDP flows relayed now (tun mode).", v);
			continue;
		}
		n = (size_t)snprintf(name, sizeof(name), "snet_capture_");
		for (; *key && n + 1 < sizeof(name); key++)
			name[n++] = (*key >= 'a' && *key <= 'z') || (*key >= '0' && *key <= '9') ? *key
												   : '_';
		name[n] = '\0';
		one(t, name, "gauge", "The capture mode's own counter of that name (SIGUSR1 line).",
		    v);
	}
}

char *render_metrics(const struct stats_sources *src, size_t *len)
{
	struct text t = { 0 };
	char mode[32];

	family(&t, "snet_info", "gauge", "Always 1; the labels say what runs.");
	tprintf(&t, "snet_info{mode=\"%s\",version=\"%s\"} 1\n", label(src->mode, mode, sizeof(mode)),
		SNET_VERSION);
	metrics_upstreams(&t, src);
	metrics_relay(&t, relay_stats(src->relay));
	if (src->dns)
		metrics_dns(&t, dns_server_stats(src->dns));
	metrics_capture(&t, src);
	if (t.failed || t.b.len == 0) {
		buf_free(&t.b);
		return NULL;
	}
	*len = t.b.len;
	return (char *)t.b.data; /* off is 0: nothing was consumed */
}

/* ---- JSON ------------------------------------------------------------- */

static char *dump(json_t *root, size_t *len)
{
	char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;

	json_decref(root);
	if (!s)
		return NULL;
	*len = strlen(s);
	if (*len > STATS_BODY_MAX) {
		free(s);
		return NULL;
	}
	return s;
}

/* A number jansson can hold (rates are finite; NaN/inf would make no JSON). */
static json_t *jreal(double v)
{
	return json_real(isfinite(v) ? v : 0);
}

struct conns_ctx {
	struct dns_server *dns; /* names for connections opened by address; NULL: none */
	json_t *list;
	size_t n;
	bool truncated, failed;
};

static void conn_add(void *ctx, const struct relay_conn *c)
{
	struct conns_ctx *cc = ctx;
	const char *host = c->host;
	char name[256];
	json_t *o;

	if (cc->failed)
		return;
	if (cc->n >= STATS_CONNS_MAX) {
		cc->truncated = true;
		return;
	}
	/* Opened by address: the name the resolver last gave that address for, if any. */
	if (!host && cc->dns && c->dst_addr &&
	    dns_server_name_of(cc->dns, c->dst_addr, name, sizeof(name)) == 0)
		host = name;
	o = json_pack("{s:I, s:s, s:s?, s:s, s:s?, s:s, s:s, s:I, s:I, s:o, s:o, s:o}", "id",
		      (json_int_t)c->id, "proto", c->proto, "src", c->src, "dst", c->dst, "host",
		      host, "upstream", c->upstream, "state", c->state, "bytes_up",
		      (json_int_t)c->bytes_up, "bytes_down", (json_int_t)c->bytes_down, "rate_up",
		      jreal(c->rate_up), "rate_down", jreal(c->rate_down), "age_s", jreal(c->age_s));
	if (!o || json_array_append_new(cc->list, o) < 0)
		cc->failed = true;
	cc->n++;
}

char *render_connections(const struct stats_sources *src, size_t *len)
{
	struct conns_ctx cc = { src->dns, json_array(), 0, false, false };
	json_t *root;

	if (!cc.list)
		return NULL;
	relay_conns_foreach(src->relay, conn_add, &cc);
	if (cc.failed) {
		json_decref(cc.list);
		return NULL;
	}
	root = json_pack("{s:o, s:b}", "connections", cc.list, "truncated", cc.truncated);
	return dump(root, len);
}

static void upstream_add(void *ctx, const struct relay_upstream_figures *u)
{
	json_t *list = ctx, *o;

	o = json_pack("{s:s, s:b, s:s, s:b, s:o, s:I, s:I, s:I, s:I}", "name", u->name, "member",
		      u->member, "health", u->health, "up", strcmp(u->health, "up") == 0,
		      "check_latency_s", u->latency >= 0 ? jreal(u->latency) : json_null(),
		      "sessions_open", (json_int_t)u->sessions_open, "sessions_total",
		      (json_int_t)u->sessions_total, "bytes_up", (json_int_t)u->bytes_up,
		      "bytes_down", (json_int_t)u->bytes_down);
	if (o)
		json_array_append_new(list, o);
}

char *render_upstreams(const struct stats_sources *src, size_t *len)
{
	const struct relay_stats *rs = relay_stats(src->relay);
	json_t *list = json_array(), *root;

	if (!list)
		return NULL;
	relay_upstreams_foreach(src->relay, upstream_add, list);
	root = json_pack("{s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "mode", src->mode,
			 "upstreams", list, "relay", "sessions_total", (json_int_t)rs->sessions_total,
			 "sessions_active", (json_int_t)rs->sessions_active, "connect_failures",
			 (json_int_t)rs->connect_failures, "connect_addrnotavail",
			 (json_int_t)rs->connect_addrnotavail, "bytes_up", (json_int_t)rs->bytes_up,
			 "bytes_down", (json_int_t)rs->bytes_down);
	return dump(root, len);
}

char *render_dns(const struct stats_sources *src, size_t *len)
{
	const struct dns_server_stats *ds;
	json_t *bounds, *counts, *root;
	uint64_t cum = 0;

	if (!src->dns)
		return dump(json_pack("{s:b}", "enabled", false), len);
	ds = dns_server_stats(src->dns);
	bounds = json_array();
	counts = json_array();
	for (size_t i = 0; bounds && counts && i <= DNS_LATENCY_BUCKETS; i++) {
		cum += ds->latency_bucket[i];
		json_array_append_new(bounds, i < DNS_LATENCY_BUCKETS
						      ? json_real(dns_latency_bounds[i])
						      : json_null());
		json_array_append_new(counts, json_integer((json_int_t)cum));
	}
	root = json_pack("{s:b, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:I, "
			 "s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:{s:o, s:o, s:o, s:I}}",
			 "enabled", true, "queries", (json_int_t)ds->queries, "answers",
			 "cache", (json_int_t)ds->cache_hits, "upstream",
			 (json_int_t)(ds->domestic + ds->foreign), "blocked",
			 (json_int_t)ds->blocked, "hosts", (json_int_t)ds->hosts, "fake",
			 (json_int_t)ds->fake, "cache_hits", (json_int_t)ds->cache_hits, "local",
			 (json_int_t)ds->local, "domestic", (json_int_t)ds->domestic, "foreign",
			 (json_int_t)ds->foreign, "failed", (json_int_t)ds->failed, "coalesced",
			 (json_int_t)ds->coalesced, "upstream_queries",
			 (json_int_t)ds->upstream_queries, "prefetches", (json_int_t)ds->prefetches,
			 "dropped", (json_int_t)ds->dropped, "learned", (json_int_t)ds->learned,
			 "inflight", (json_int_t)ds->inflight, "cache_entries",
			 (json_int_t)ds->cache_entries, "cache_hit_ratio", jreal(hit_ratio(ds)),
			 "upstream_latency", "le_s", bounds, "cumulative_counts", counts, "sum_s",
			 jreal(ds->latency_sum), "count", (json_int_t)cum);
	return dump(root, len);
}
