/* config_keys_dns.c -- the dns section's keys and its nested tables: listener, upstream
 * servers (and their defaults), cache and TTL bounds, disabled query types, hosts, query log,
 * timeout, and dns.fake-ip's pool. */
#include "base/config_keys.h"

#include <string.h>
#include <strings.h>

#include "base/config_parse.h"

static int host_port_list_push(struct host_port_list *l, const struct host_port *hp)
{
	struct host_port *v = config_vec_grow(l->v, l->n, sizeof(*v));

	if (!v)
		return -1;
	l->v = v;
	l->v[l->n++] = *hp;
	return 0;
}

static int config_walk_dns_listen(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_dns *d = base;

	(void)k;
	return config_listen(w, &d->listen, &d->listen_len, false);
}

static int config_item_qtype(struct walk *w, const struct walk_key *k, void *base, const char *s,
			     size_t len)
{
	static const struct {
		const char *name;
		uint16_t type;
	} names[] = {
		{ "A", 1 },	   { "NS", 2 },	     { "CNAME", 5 },	{ "SOA", 6 },
		{ "PTR", 12 },	   { "MX", 15 },     { "TXT", 16 },	{ "AAAA", 28 },
		{ "SRV", 33 },	   { "NAPTR", 35 },  { "DS", 43 },	{ "RRSIG", 46 },
		{ "DNSKEY", 48 },  { "SVCB", 64 },   { "HTTPS", 65 },	{ "ANY", 255 },
		{ "CAA", 257 },
	};
	struct uid_list *l = (struct uid_list *)((char *)base + k->off);
	char q[QBUF];
	int64_t v;
	size_t i;

	if (walk_parse_int(s, len, false, &v) == 0) {
		if (v < 1 || v > 65535)
			return walk_fail(w, "'%s' is out of range 1..65535", config_quote(s, len, q));
		return config_uid_list_push(l, (uint32_t)v) < 0 ? config_oom(w) : 0;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == len && !strncasecmp(names[i].name, s, len))
			return config_uid_list_push(l, names[i].type) < 0 ? config_oom(w) : 0;
	return walk_fail(w, "unknown DNS type '%s' (expected a number 1..65535 or one of: A, NS, "
			 "CNAME, SOA, PTR, MX, TXT, AAAA, SRV, NAPTR, DS, RRSIG, DNSKEY, SVCB, "
			 "HTTPS, CAA, ANY)", config_quote(s, len, q));
}

static int config_item_dns_server(struct walk *w, const struct walk_key *k, void *base,
				  const char *s, size_t len)
{
	struct host_port hp;
	char q[QBUF];

	memset(&hp, 0, sizeof(hp));
	if (config_parse_host_port(s, len, 53, &hp) < 0)
		return walk_fail(w, "invalid server '%s' (expected host, host:port or [IPv6]:port)",
				 config_quote(s, len, q));
	if (host_port_list_push((struct host_port_list *)((char *)base + k->off), &hp) < 0)
		return config_oom(w);
	return 0;
}

/* ---- dns.hosts: name -> IP literal, or a list of them ---- */

static int config_host_addr(struct walk *w, struct dns_host *h)
{
	const char *s = NULL;
	struct cidr c, *v;
	char q[QBUF];
	size_t len = 0;

	if (walk_scalar(w, "an IP address", &s, &len) < 0)
		return -1;
	if (config_parse_ip(s, len, &c) < 0)
		return walk_fail(w, "invalid IP address '%s'", config_quote(s, len, q));
	v = config_vec_grow(h->addrs, h->n, sizeof(*v));
	if (!v)
		return config_oom(w);
	h->addrs = v;
	h->addrs[h->n++] = c;
	return 0;
}

static int config_host_addrs(struct walk *w, struct dns_host *h)
{
	yaml_mark_t at = walk_mark(w);

	if (w->ev.type == YAML_SEQUENCE_START_EVENT) {
		for (;;) {
			if (walk_next(w) < 0)
				return -1;
			if (w->ev.type == YAML_SEQUENCE_END_EVENT)
				break;
			if (config_host_addr(w, h) < 0)
				return -1;
		}
	} else if (w->ev.type == YAML_SCALAR_EVENT && !walk_is_null(w)) {
		if (config_host_addr(w, h) < 0)
			return -1;
	} else if (w->ev.type != YAML_SCALAR_EVENT) {
		return walk_fail_type(w, "an IP address or a list of them");
	}
	if (h->n == 0)
		return walk_fail_at(w, at, "expected at least one IP address");
	return 0;
}

static int config_walk_hosts(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_dns *d = base;

	(void)k;
	if (walk_is_null(w))
		return 0;
	if (w->ev.type != YAML_MAPPING_START_EVENT)
		return walk_fail_type(w, "a mapping of host names to addresses");
	for (;;) {
		struct dns_host *h;
		char name[254], q[QBUF];
		const char *s = NULL;
		size_t len, i, saved;
		int rc;

		if (walk_next(w) < 0)
			return -1;
		if (w->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (walk_scalar(w, "a host name", &s, &len) < 0)
			return -1;
		if (config_parse_domain(s, len, false, name, sizeof(name)) < 0)
			return walk_fail(w, "invalid host name '%s'", config_quote(s, len, q));
		for (i = 0; i < d->n_hosts; i++)
			if (!strcmp(d->hosts[i].name, name))
				return walk_fail(w, "duplicate host name '%s'", name);
		h = config_vec_grow(d->hosts, d->n_hosts, sizeof(*h));
		if (!h)
			return config_oom(w);
		d->hosts = h;
		h = &d->hosts[d->n_hosts];
		memset(h, 0, sizeof(*h));
		h->name = strdup(name);
		if (!h->name)
			return config_oom(w);
		d->n_hosts++;
		saved = walk_path_push(w, name);
		rc = walk_next(w);
		if (rc == 0)
			rc = config_host_addrs(w, h);
		walk_path_pop(w, saved);
		if (rc < 0)
			return -1;
	}
}

/* dns.fake-ip.range / range6: a network of the key's family, prefix 8..30 (IPv4) or
 * 64..120 (IPv6), so the pool has room and is not the whole address space. */
static int config_walk_fake_range(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_fake_ip *f = base;
	bool v6 = !strcmp(k->name, "range6");
	struct cidr c;
	const char *s = NULL;
	size_t len = 0;
	char q[QBUF];

	if (walk_scalar(w, "a CIDR", &s, &len) < 0)
		return -1;
	if (v6 && (walk_is_null(w) || len == 0)) {
		f->has_range6 = false;
		return 0;
	}
	if (config_parse_cidr(s, len, false, &c) < 0 || c.family != (v6 ? AF_INET6 : AF_INET))
		return walk_fail(w, "invalid %s network '%s'", v6 ? "IPv6" : "IPv4",
				 config_quote(s, len, q));
	if (v6 ? c.prefix < 64 || c.prefix > 120 : c.prefix < 8 || c.prefix > 30)
		return walk_fail(w, "fake-ip %s: prefix /%u out of range (%s)", k->name, c.prefix,
				 v6 ? "64..120" : "8..30");
	if (v6) {
		f->range6 = c;
		f->has_range6 = true;
	} else {
		f->range = c;
	}
	return 0;
}

static const struct walk_key fake_ip_keys[] = {
	K_BOOL("enable", struct config_fake_ip, enable),
	K_FN("range", struct config_fake_ip, range, config_walk_fake_range),
	K_FN("range6", struct config_fake_ip, range6, config_walk_fake_range),
	K_UINT("size", struct config_fake_ip, size, 16, 1048576, 0),
};
static const struct walk_table fake_ip_table = TABLE(fake_ip_keys, NULL);

enum { DK_ENABLE, DK_LISTEN, DK_DOMESTIC, DK_FOREIGN, DK_SPLIT, DK_CACHE, DK_MIN_TTL, DK_MAX_TTL,
       DK_QTYPES, DK_HOSTS, DK_PREFETCH, DK_QUERY_LOG, DK_TIMEOUT, DK_FAKE_IP };

static int dns_default_server(struct walk *w, yaml_mark_t owner, struct host_port_list *l,
			      const char *text)
{
	struct host_port hp;

	memset(&hp, 0, sizeof(hp));
	if (config_parse_host_port(text, strlen(text), 53, &hp) < 0 ||
	    host_port_list_push(l, &hp) < 0)
		return walk_fail_plain(w, owner, "out of memory");
	return 0;
}

static int dns_check(struct walk *w, const struct walk_seen *seen, bool present,
		     yaml_mark_t owner, void *base)
{
	struct config_dns *d = base;

	(void)present;
	/* dns.domestic left out (or []): the system's resolvers (dns/sysresolv.c). foreign
	 * left out: two public resolvers, asked through the proxy. */
	if (!seen[DK_FOREIGN].seen &&
	    (dns_default_server(w, owner, &d->foreign, "8.8.8.8") < 0 ||
	     dns_default_server(w, owner, &d->foreign, "1.1.1.1") < 0))
		return -1;
	if (d->max_ttl < d->min_ttl)
		return walk_fail_plain(w, seen[DK_MAX_TTL].seen ? seen[DK_MAX_TTL].value
								: seen[DK_MIN_TTL].value,
				       "dns.max-ttl (%u) is below dns.min-ttl (%u)", d->max_ttl,
				       d->min_ttl);
	if (d->enable && d->foreign.n == 0)
		return walk_fail_plain(w, seen[DK_FOREIGN].value, "dns.foreign: at least one "
				       "server is needed while dns.enable is true");
	return 0;
}

static const struct walk_key dns_keys[] = {
	[DK_ENABLE] = K_BOOL("enable", struct config_dns, enable),
	[DK_LISTEN] = K_FN("listen", struct config_dns, listen, config_walk_dns_listen),
	[DK_DOMESTIC] = K_LIST("domestic", struct config_dns, domestic, config_item_dns_server, 0,
			       0),
	[DK_FOREIGN] = K_LIST("foreign", struct config_dns, foreign, config_item_dns_server, 0, 0),
	[DK_SPLIT] = K_BOOL("split", struct config_dns, split),
	[DK_CACHE] = K_UINT("cache-size", struct config_dns, cache_size, 0, 10000000, 0),
	[DK_MIN_TTL] = K_UINT("min-ttl", struct config_dns, min_ttl, 0, 2147483647, 0),
	[DK_MAX_TTL] = K_UINT("max-ttl", struct config_dns, max_ttl, 0, 2147483647, 0),
	[DK_QTYPES] = K_LIST("disable-qtypes", struct config_dns, disable_qtypes, config_item_qtype,
			     1, 65535),
	[DK_HOSTS] = K_FN("hosts", struct config_dns, hosts, config_walk_hosts),
	[DK_PREFETCH] = K_BOOL("prefetch", struct config_dns, prefetch),
	[DK_QUERY_LOG] = K_FN("query-log", struct config_dns, query_log, config_walk_path),
	[DK_TIMEOUT] = K_UINT("timeout", struct config_dns, timeout, 1, 60, 0),
	[DK_FAKE_IP] = K_MAP("fake-ip", struct config_dns, fake_ip, fake_ip_table),
};
const struct walk_table config_dns_table = TABLE(dns_keys, dns_check);
