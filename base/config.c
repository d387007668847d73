/* config.c -- the configuration schema: one walk_table per YAML mapping (key, handler, field,
 * range), the defaults, the cross-key checks (required keys, ttl order, cidr files), and
 * config_load / config_free. The walker is yaml_walk.c; value syntaxes are config_parse.c. */
#include "base/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/config_keys.h"
#include "base/config_parse.h"
#include "base/privdrop.h"
#include "base/yaml_walk.h"

#define CONFIG_FILE_MAX (16u << 20)

_Static_assert(sizeof(enum run_mode) == sizeof(int), "walk_enum stores an int");
_Static_assert(sizeof(enum log_level) == sizeof(int), "walk_enum stores an int");
_Static_assert(sizeof(enum proxy_type) == sizeof(int), "walk_enum stores an int");
_Static_assert(sizeof(enum rules_scope) == sizeof(int), "walk_enum stores an int");

const char *config_quote(const char *s, size_t len, char *buf)
{
	return walk_quote(s, len, buf, QBUF);
}

int config_oom(struct walk *w)
{
	return walk_fail(w, "out of memory");
}

static int str_list_push(struct str_list *l, const char *s)
{
	char **v, *dup = strdup(s);

	if (!dup)
		return -1;
	v = config_vec_grow(l->v, l->n, sizeof(*v));
	if (!v) {
		free(dup);
		return -1;
	}
	l->v = v;
	l->v[l->n++] = dup;
	return 0;
}

int config_uid_list_push(struct uid_list *l, uint32_t x)
{
	uint32_t *v = config_vec_grow(l->v, l->n, sizeof(*v));

	if (!v)
		return -1;
	l->v = v;
	l->v[l->n++] = x;
	return 0;
}

static int host_port_list_push(struct host_port_list *l, const struct host_port *hp)
{
	struct host_port *v = config_vec_grow(l->v, l->n, sizeof(*v));

	if (!v)
		return -1;
	l->v = v;
	l->v[l->n++] = *hp;
	return 0;
}

/* A relative path is taken from the config file's directory. */
int config_resolve(struct walk *w, const char *s, size_t len, char *out, size_t outsize)
{
	const struct config_ctx *ctx = w->user;
	size_t dlen = 0;

	if (len > 0 && s[0] != '/' && ctx->base_dir)
		dlen = strlen(ctx->base_dir) + 1;
	if (dlen + len >= outsize)
		return walk_fail(w, "path too long (at most %zu bytes)", outsize - 1);
	if (dlen) {
		memcpy(out, ctx->base_dir, dlen - 1);
		out[dlen - 1] = '/';
	}
	memcpy(out + dlen, s, len);
	out[dlen + len] = '\0';
	return 0;
}

/* Appends a CIDR list file to out; errors point at `at` (the YAML value naming it). */
static int config_cidr_file(struct walk *w, yaml_mark_t at, const char *label, const char *path,
			    struct cidr_list *out)
{
	char bad[QBUF], q[QBUF];
	size_t line = 0;
	int rc = config_load_cidr_file(path, out, &line, bad, sizeof(bad));

	if (rc == -2)
		return walk_fail_in(w, path, line, 1, "invalid CIDR '%s'", bad);
	if (rc < 0)
		return walk_fail_plain(w, at, "%s: cannot read cidr file '%s': %s", label,
				       config_quote(path, strlen(path), q),
				       config_read_strerror(errno));
	return 0;
}

/* ---- handlers for single values ---- */

int config_walk_path(struct walk *w, const struct walk_key *k, void *base)
{
	const char *s = NULL;
	size_t len = 0;

	if (walk_scalar(w, "a file path", &s, &len) < 0)
		return -1;
	if (walk_is_null(w))
		len = 0;
	return config_resolve(w, s, len, (char *)base + k->off, k->size);
}

static int config_walk_ifname(struct walk *w, const struct walk_key *k, void *base)
{
	const char *name = (const char *)base + k->off;
	char q[QBUF];
	size_t i;

	if (walk_str(w, k, base) < 0)
		return -1;
	for (i = 0; name[i]; i++)
		if (name[i] <= ' ' || name[i] >= 0x7f || strchr("/:%", name[i]))
			break;
	if (name[i] || i == 0 || !strcmp(name, ".") || !strcmp(name, ".."))
		return walk_fail(w, "invalid interface name '%s' (1..15 characters, none of '/', ':', "
				 "'%%' or spaces)", config_quote(name, strlen(name), q));
	return 0;
}

static int config_walk_server(struct walk *w, const struct walk_key *k, void *base)
{
	const char *s = NULL;
	char q[QBUF];
	size_t len = 0;
	const char *colon;

	if (walk_scalar(w, "an IP address or host name", &s, &len) < 0)
		return -1;
	if (walk_is_null(w))
		return walk_fail_type(w, "an IP address or host name");
	if (config_parse_host(s, len, (char *)base + k->off, k->size) == 0)
		return 0;
	colon = memchr(s, ':', len);
	if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1))
		return walk_fail(w, "invalid IP address or host name '%s' (the port goes in "
				 "proxy.port)", config_quote(s, len, q));
	return walk_fail(w, "invalid IP address or host name '%s'", config_quote(s, len, q));
}

#define SS_AEAD_TEXT "chacha20-ietf-poly1305, aes-256-gcm, aes-128-gcm, xchacha20-ietf-poly1305"

static int config_walk_method(struct walk *w, const struct walk_key *k, void *base)
{
	static const char *const aead[] = { "chacha20-ietf-poly1305", "aes-256-gcm",
					    "aes-128-gcm", "xchacha20-ietf-poly1305" };
	static const char *const stream[] = {
		"rc4", "rc4-md5", "aes-128-cfb", "aes-192-cfb", "aes-256-cfb", "aes-128-ctr",
		"aes-192-ctr", "aes-256-ctr", "chacha20", "chacha20-ietf", "salsa20", "bf-cfb",
		"camellia-128-cfb", "camellia-192-cfb", "camellia-256-cfb", "table", "none", "plain",
	};
	char *out = (char *)base + k->off;
	const char *s = NULL;
	char q[QBUF];
	size_t len, i;

	if (walk_scalar(w, "a cipher name", &s, &len) < 0)
		return -1;
	for (i = 0; i < sizeof(aead) / sizeof(aead[0]); i++) {
		if (strlen(aead[i]) == len && !memcmp(aead[i], s, len) && len < k->size) {
			memcpy(out, s, len);
			out[len] = '\0';
			return 0;
		}
	}
	for (i = 0; i < sizeof(stream) / sizeof(stream[0]); i++)
		if (strlen(stream[i]) == len && !strncasecmp(stream[i], s, len))
			return walk_fail(w, "'%s' is a stream cipher: insecure, deprecated and not "
					 "supported (use one of: " SS_AEAD_TEXT ")",
					 config_quote(s, len, q));
	return walk_fail(w, "unknown method '%s' (supported: " SS_AEAD_TEXT ")",
			 config_quote(s, len, q));
}

int config_listen(struct walk *w, struct sockaddr_storage *ss, socklen_t *sl, bool empty_ok)
{
	const char *s = NULL;
	char q[QBUF];
	size_t len = 0;

	if (walk_scalar(w, "an IP:port address", &s, &len) < 0)
		return -1;
	if (walk_is_null(w))
		len = 0;
	if (len == 0 && empty_ok) {
		memset(ss, 0, sizeof(*ss));
		*sl = 0;
		return 0;
	}
	if (config_parse_listen(s, len, ss, sl) < 0)
		return walk_fail(w, "invalid address '%s' (expected IPv4:port or [IPv6]:port)",
				 config_quote(s, len, q));
	return 0;
}

static int config_walk_redirect_listen(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_redirect *r = base;

	(void)k;
	return config_listen(w, &r->listen, &r->listen_len, false);
}

static int config_walk_dns_listen(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_dns *d = base;

	(void)k;
	return config_listen(w, &d->listen, &d->listen_len, false);
}

static int config_walk_stats_listen(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_stats *st = base;

	(void)k;
	return config_listen(w, &st->listen, &st->listen_len, true);
}

static int config_walk_tun_address(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_tun *t = base;
	const char *s = NULL;
	char q[QBUF];
	size_t len = 0;

	if (walk_scalar(w, "an address with prefix", &s, &len) < 0)
		return -1;
	if (!strcmp(k->name, "address6")) {
		t->has_address6 = false;
		if (walk_is_null(w) || len == 0)
			return 0;
		if (config_parse_iface(s, len, AF_INET6, &t->address6) < 0)
			return walk_fail(w, "invalid interface address '%s' (expected an IPv6 address "
					 "with prefix, like fdfe:dcba:9876::1/126)",
					 config_quote(s, len, q));
		t->has_address6 = true;
		return 0;
	}
	if (config_parse_iface(s, len, AF_INET, &t->address) < 0)
		return walk_fail(w, "invalid interface address '%s' (expected an IPv4 address with "
				 "prefix, like 198.18.255.1/30)", config_quote(s, len, q));
	return 0;
}

/* user: a name or a uid, looked up now, so an unknown user is a config error. */
static int config_walk_user(struct walk *w, const struct walk_key *k, void *base)
{
	struct config *c = base;
	char why[256];
	uid_t uid;
	gid_t gid;

	if (walk_str(w, k, base) < 0)
		return -1;
	if (!c->user[0])
		return 0;
	/* What useradd accepts (plus a numeric uid); anything else cannot name a user,
	 * and control characters must not reach a message. */
	for (const char *p = c->user; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '.' || *p == '-' || (*p == '$' && !p[1])) ||
		    (p == c->user && *p == '-')) {
			char q[QBUF];
			return walk_fail(w, "not a user name or uid: %s",
					 config_quote(c->user, strlen(c->user), q));
		}
	}
	if (privdrop_lookup(c->user, &uid, &gid, why, sizeof(why)) < 0)
		return walk_fail(w, "%s", why);
	c->user_uid = (uint32_t)uid;
	c->user_gid = (uint32_t)gid;
	return 0;
}

/* ---- list items ---- */

static int config_item_uint(struct walk *w, const struct walk_key *k, void *base, const char *s,
			    size_t len)
{
	char q[QBUF];
	int64_t v;

	if (walk_parse_int(s, len, false, &v) < 0)
		return walk_fail_type(w, "a number");
	if (v < k->min || v > k->max)
		return walk_fail(w, "'%s' is out of range %lld..%lld", config_quote(s, len, q),
				 (long long)k->min, (long long)k->max);
	if (config_uid_list_push((struct uid_list *)((char *)base + k->off), (uint32_t)v) < 0)
		return config_oom(w);
	return 0;
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

int config_item_cidr(struct walk *w, const struct walk_key *k, void *base, const char *s,
		     size_t len)
{
	struct cidr c;
	char q[QBUF];

	if (config_parse_cidr(s, len, false, &c) == 0)
		return config_cidr_push((struct cidr_list *)((char *)base + k->off), &c) < 0
			       ? config_oom(w)
			       : 0;
	if (config_parse_cidr(s, len, true, &c) == 0)
		return walk_fail(w, "invalid CIDR '%s': host bits set beyond the /%u prefix",
				 config_quote(s, len, q), c.prefix);
	return walk_fail(w, "invalid CIDR '%s'", config_quote(s, len, q));
}

static int config_item_cidr_file(struct walk *w, const struct walk_key *k, void *base,
				 const char *s, size_t len)
{
	struct config_rules *r = base;
	char path[CONFIG_PATH_MAX];

	(void)k;
	if (len == 0 || walk_is_null(w))
		return walk_fail_type(w, "a file path");
	if (config_resolve(w, s, len, path, sizeof(path)) < 0)
		return -1;
	if (str_list_push(&r->bypass_cidr_files, path) < 0)
		return config_oom(w);
	return config_cidr_file(w, walk_mark(w), w->path, path, &r->bypass_cidrs);
}

static int config_item_domain(struct walk *w, const struct walk_key *k, void *base, const char *s,
			      size_t len)
{
	char name[254], q[QBUF];

	if (config_parse_domain(s, len, true, name, sizeof(name)) < 0)
		return walk_fail(w, "invalid domain name '%s'", config_quote(s, len, q));
	if (str_list_push((struct str_list *)((char *)base + k->off), name) < 0)
		return config_oom(w);
	return 0;
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

/* ---- the schema ---- */

static const char *const mode_names[] = { "tun", "redirect", NULL };
static const char *const level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const proxy_type_names[] = { "ss", "http", "socks5", "direct", NULL };
static const char *const scope_names[] = { "global", "bypass-cn", NULL };

enum { PK_TYPE, PK_SERVER, PK_PORT, PK_METHOD, PK_PASSWORD, PK_USERNAME, PK_UDP, PK_CONNECT,
       PK_IDLE, PK_KEEPALIVE };

static int proxy_check(struct walk *w, const struct walk_seen *seen, bool present,
		       yaml_mark_t owner, void *base)
{
	const struct config_proxy *p = base;

	if (p->type == PROXY_TYPE_DIRECT)
		return 0;
	if (!present)
		return walk_fail_plain(w, owner, "missing required key 'proxy' in top level");
	if (!seen[PK_SERVER].seen)
		return walk_fail_plain(w, owner, "missing required key 'server' in proxy");
	if (!seen[PK_PORT].seen)
		return walk_fail_plain(w, owner, "missing required key 'port' in proxy");
	if (p->type == PROXY_TYPE_SS && !seen[PK_PASSWORD].seen)
		return walk_fail_plain(w, owner, "missing required key 'password' in proxy "
				       "(required for type ss)");
	if (p->type == PROXY_TYPE_SS && !p->password[0])
		return walk_fail_plain(w, seen[PK_PASSWORD].value,
				       "proxy.password: must not be empty for type ss");
	if (p->type == PROXY_TYPE_SOCKS5 && p->password[0] && !p->username[0])
		return walk_fail_plain(w, seen[PK_PASSWORD].value,
				       "proxy.password: socks5 authentication (RFC 1929) needs "
				       "proxy.username too");
	return 0;
}

static const struct walk_key proxy_keys[] = {
	[PK_TYPE] = K_ENUM("type", struct config_proxy, type, proxy_type_names),
	[PK_SERVER] = K_FN("server", struct config_proxy, server, config_walk_server),
	[PK_PORT] = K_UINT("port", struct config_proxy, port, 1, 65535, 0),
	[PK_METHOD] = K_FN("method", struct config_proxy, method, config_walk_method),
	[PK_PASSWORD] = K_STR("password", struct config_proxy, password),
	[PK_USERNAME] = K_STR("username", struct config_proxy, username),
	[PK_UDP] = K_BOOL("udp", struct config_proxy, udp),
	[PK_CONNECT] = K_UINT("connect-timeout", struct config_proxy, connect_timeout, 1, 3600, 0),
	[PK_IDLE] = K_UINT("idle-timeout", struct config_proxy, idle_timeout, 0, 604800, 0),
	/* Linux takes TCP_KEEPIDLE up to 32767 s. */
	[PK_KEEPALIVE] = K_UINT("keepalive", struct config_proxy, keepalive, 0, 32767, 0),
};
const struct walk_table config_proxy_table = TABLE(proxy_keys, proxy_check);

enum { TK_NAME, TK_ADDRESS, TK_ADDRESS6, TK_MTU, TK_AUTO_ROUTE, TK_UIDS, TK_EXCLUDE_UIDS };

static int tun_check(struct walk *w, const struct walk_seen *seen, bool present, yaml_mark_t owner,
		     void *base)
{
	const struct config_tun *t = base;

	(void)present;
	(void)owner;
	if (t->has_address6 && t->mtu < 1280)
		return walk_fail_plain(w, seen[TK_MTU].value,
				       "tun.mtu: %u is below 1280, the IPv6 minimum, and "
				       "tun.address6 is set", t->mtu);
	return 0;
}

static const struct walk_key tun_keys[] = {
	[TK_NAME] = K_FN("name", struct config_tun, name, config_walk_ifname),
	[TK_ADDRESS] = K_FN("address", struct config_tun, address, config_walk_tun_address),
	[TK_ADDRESS6] = K_FN("address6", struct config_tun, address6, config_walk_tun_address),
	[TK_MTU] = K_UINT("mtu", struct config_tun, mtu, 576, 65535, 0),
	[TK_AUTO_ROUTE] = K_BOOL("auto-route", struct config_tun, auto_route),
	[TK_UIDS] = K_LIST("uids", struct config_tun, uids, config_item_uint, 0, 4294967294LL),
	[TK_EXCLUDE_UIDS] = K_LIST("exclude-uids", struct config_tun, exclude_uids,
				   config_item_uint, 0, 4294967294LL),
	K_UINT("udp-timeout", struct config_tun, udp_timeout, 1, 3600, 0),
	K_UINT("udp-max-flows", struct config_tun, udp_max_flows, 1, 65536, 0),
};
const struct walk_table config_tun_table = TABLE(tun_keys, tun_check);

static const struct walk_key redirect_keys[] = {
	K_FN("listen", struct config_redirect, listen, config_walk_redirect_listen),
	K_BOOL("install-rules", struct config_redirect, install_rules),
};
const struct walk_table config_redirect_table = TABLE(redirect_keys, NULL);

enum { RK_SCOPE, RK_CN_FILE, RK_CIDRS, RK_CIDR_FILES, RK_DOMAINS, RK_BLOCK, RK_PROXY_DOMAINS,
       RK_BLOCK_UNCAPTURED };

static int rules_check(struct walk *w, const struct walk_seen *seen, bool present,
		       yaml_mark_t owner, void *base)
{
	struct config_rules *r = base;

	(void)present;
	if (r->scope == SCOPE_BYPASS_CN && !seen[RK_CN_FILE].seen)
		return walk_fail_plain(w, owner, "missing required key 'cn-cidr-file' in rules "
				       "(required for scope bypass-cn)");
	if (r->scope == SCOPE_BYPASS_CN && !r->cn_cidr_file[0])
		return walk_fail_plain(w, seen[RK_CN_FILE].value, "rules.cn-cidr-file: must not be "
				       "empty with scope bypass-cn");
	/* Loaded whenever given: dns split resolution uses it in every scope. */
	if (!r->cn_cidr_file[0])
		return 0;
	return config_cidr_file(w, seen[RK_CN_FILE].value, "rules.cn-cidr-file", r->cn_cidr_file,
				&r->cn_cidrs);
}

static const struct walk_key rules_keys[] = {
	[RK_SCOPE] = K_ENUM("scope", struct config_rules, scope, scope_names),
	[RK_CN_FILE] = K_FN("cn-cidr-file", struct config_rules, cn_cidr_file, config_walk_path),
	[RK_CIDRS] = K_LIST("bypass-cidrs", struct config_rules, bypass_cidrs, config_item_cidr, 0,
			    0),
	[RK_CIDR_FILES] = K_LIST("bypass-cidr-files", struct config_rules, bypass_cidr_files,
				 config_item_cidr_file, 0, 0),
	[RK_DOMAINS] = K_LIST("bypass-domains", struct config_rules, bypass_domains,
			      config_item_domain, 0, 0),
	[RK_BLOCK] = K_LIST("block-domains", struct config_rules, block_domains,
			    config_item_domain, 0, 0),
	[RK_PROXY_DOMAINS] = K_LIST("proxy-domains", struct config_rules, proxy_domains,
				    config_item_domain, 0, 0),
	[RK_BLOCK_UNCAPTURED] = K_BOOL("block-uncaptured", struct config_rules, block_uncaptured),
};
const struct walk_table config_rules_table = TABLE(rules_keys, rules_check);

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
	if (!seen[DK_DOMESTIC].seen && dns_default_server(w, owner, &d->domestic, "198.18.0.53") < 0)
		return -1;
	if (!seen[DK_FOREIGN].seen && dns_default_server(w, owner, &d->foreign, "198.18.1.53") < 0)
		return -1;
	if (d->max_ttl < d->min_ttl)
		return walk_fail_plain(w, seen[DK_MAX_TTL].seen ? seen[DK_MAX_TTL].value
								: seen[DK_MIN_TTL].value,
				       "dns.max-ttl (%u) is below dns.min-ttl (%u)", d->max_ttl,
				       d->min_ttl);
	if (d->enable && d->foreign.n == 0)
		return walk_fail_plain(w, seen[DK_FOREIGN].value, "dns.foreign: at least one "
				       "server is needed while dns.enable is true");
	if (d->enable && d->split && d->domestic.n == 0)
		return walk_fail_plain(w, seen[DK_DOMESTIC].value, "dns.domestic: at least one "
				       "server is needed while dns.split is true");
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

static int stats_check(struct walk *w, const struct walk_seen *seen, bool present,
		       yaml_mark_t owner, void *base)
{
	struct config_stats *st = base;

	(void)w;
	(void)seen;
	(void)present;
	(void)owner;
	st->enable = st->listen_len != 0;
	return 0;
}

enum { GK_ENABLE, GK_LAN };

static int gateway_check(struct walk *w, const struct walk_seen *seen, bool present,
			 yaml_mark_t owner, void *base)
{
	const struct config_gateway *g = base;

	(void)present;
	(void)owner;
	/* At the (empty) list, or at `enable: true` when there is none. */
	if (g->enable && g->lan.n == 0)
		return walk_fail_plain(w, seen[seen[GK_LAN].seen ? GK_LAN : GK_ENABLE].value,
				       "gateway.lan: at least one CIDR is needed while "
				       "gateway.enable is true");
	return 0;
}

static const struct walk_key gateway_keys[] = {
	[GK_ENABLE] = K_BOOL("enable", struct config_gateway, enable),
	[GK_LAN] = K_LIST("lan", struct config_gateway, lan, config_item_cidr, 0, 0),
};
const struct walk_table config_gateway_table = TABLE(gateway_keys, gateway_check);

static const struct walk_key stats_keys[] = {
	K_FN("listen", struct config_stats, listen, config_walk_stats_listen),
};
static const struct walk_table stats_table = TABLE(stats_keys, stats_check);

static const struct walk_key config_keys[] = {
	K_ENUM("mode", struct config, mode, mode_names),
	K_ENUM("log-level", struct config, log_level, level_names),
	K_UINT("fwmark", struct config, fwmark, 1, 0xffffffffLL, WALK_F_HEX),
	K_FN("user", struct config, user, config_walk_user),
	K_MAP("proxy", struct config, proxy, config_proxy_table),
	K_MAP("tun", struct config, tun, config_tun_table),
	K_MAP("redirect", struct config, redirect, config_redirect_table),
	K_MAP("rules", struct config, rules, config_rules_table),
	K_MAP("dns", struct config, dns, config_dns_table),
	K_MAP("gateway", struct config, gateway, config_gateway_table),
	K_MAP("stats", struct config, stats, stats_table),
};

/* Checks across the sections. */
static int config_check(struct walk *w, const struct walk_seen *seen, bool present,
			yaml_mark_t owner, void *base)
{
	const struct config *c = base;
	size_t i;

	(void)present;
	for (i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++)
		if (!strcmp(config_keys[i].name, "gateway"))
			break;
	/* The LAN's rules are part of tun mode's routes. */
	if (c->gateway.enable && c->mode == MODE_TUN && !c->tun.auto_route)
		return walk_fail_plain(w, i < sizeof(config_keys) / sizeof(config_keys[0]) &&
						  seen[i].seen ? seen[i].value : owner,
				       "gateway.enable: tun mode needs tun.auto-route (the LAN's "
				       "policy rules are part of its routes)");
	return 0;
}
static const struct walk_table config_table = TABLE(config_keys, config_check);

/* ---- loading and freeing ---- */

static void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = MODE_TUN;
	c->log_level = LOG_INFO;
	c->fwmark = 0x534e;
	c->proxy.type = PROXY_TYPE_SS;
	snprintf(c->proxy.method, sizeof(c->proxy.method), "%s", "chacha20-ietf-poly1305");
	c->proxy.udp = true;
	c->proxy.connect_timeout = 10;
	c->proxy.idle_timeout = 0;
	c->proxy.keepalive = 60;
	snprintf(c->tun.name, sizeof(c->tun.name), "%s", "snet0");
	config_parse_iface("198.18.255.1/30", 15, AF_INET, &c->tun.address);
	c->tun.mtu = 1500;
	c->tun.auto_route = true;
	c->tun.udp_timeout = 60;
	c->tun.udp_max_flows = 1024;
	config_parse_listen("127.0.0.1:1111", 14, &c->redirect.listen, &c->redirect.listen_len);
	c->redirect.install_rules = true;
	c->rules.scope = SCOPE_GLOBAL;
	c->rules.block_uncaptured = true;
	c->dns.enable = true;
	config_parse_listen("127.0.0.1:1153", 14, &c->dns.listen, &c->dns.listen_len);
	c->dns.split = true;
	c->dns.cache_size = 10000;
	c->dns.min_ttl = 0;
	c->dns.max_ttl = 86400;
	c->dns.prefetch = true;
	c->dns.timeout = 5;
	cidr_parse("198.19.0.0/16", &c->dns.fake_ip.range);
	c->dns.fake_ip.size = 65536;
}

static int config_load_text(const char *name, const char *base_dir, const char *data, size_t len,
			    struct config *cfg, char *err, size_t errlen)
{
	struct config_ctx ctx = { base_dir };
	struct walk w;
	size_t nlen = strlen(name);

	config_defaults(cfg);
	if (nlen >= sizeof(cfg->path)) {
		if (err && errlen)
			snprintf(err, errlen, "%.64s...:1:1: path too long", name);
		goto fail;
	}
	memcpy(cfg->path, name, nlen + 1);
	if (walk_init(&w, name, data, len, err, errlen) < 0)
		goto fail_walk;
	w.user = &ctx;
	if (walk_document(&w, &config_table, cfg) < 0)
		goto fail_walk;
	walk_fini(&w);
	return 0;
fail_walk:
	walk_fini(&w);
fail:
	config_free(cfg);
	return -1;
}

int config_load_buffer(const char *name, const char *data, size_t len, struct config *cfg,
		       char *err, size_t errlen)
{
	return config_load_text(name, NULL, data, len, cfg, err, errlen);
}

int config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	char dir[CONFIG_PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base_dir = NULL;
	char *data;
	size_t len = 0;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (config_read_file(path, CONFIG_FILE_MAX, false, &data, &len) < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s:1:1: cannot read: %s", path,
				 config_read_strerror(errno));
		return -1;
	}
	if (slash && (size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		base_dir = dir; /* "" for a file in /: relative paths become "/name" */
	}
	rc = config_load_text(path, base_dir, data, len, cfg, err, errlen);
	explicit_bzero(data, len); /* it holds the proxy password */
	free(data);
	return rc;
}

static void str_list_free(struct str_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

void config_free(struct config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	free(cfg->tun.uids.v);
	free(cfg->tun.exclude_uids.v);
	free(cfg->rules.cn_cidrs.v);
	free(cfg->rules.bypass_cidrs.v);
	str_list_free(&cfg->rules.bypass_cidr_files);
	str_list_free(&cfg->rules.bypass_domains);
	str_list_free(&cfg->rules.block_domains);
	str_list_free(&cfg->rules.proxy_domains);
	free(cfg->dns.domestic.v);
	free(cfg->dns.foreign.v);
	free(cfg->dns.disable_qtypes.v);
	free(cfg->gateway.lan.v);
	for (i = 0; i < cfg->dns.n_hosts; i++) {
		free(cfg->dns.hosts[i].name);
		free(cfg->dns.hosts[i].addrs);
	}
	free(cfg->dns.hosts);
	explicit_bzero(cfg, sizeof(*cfg)); /* wipes the password; a second free is a no-op */
}
