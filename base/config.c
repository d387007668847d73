/* config.c -- the configuration loader: config_load and config_free, the defaults, the top
 * level (mode, log-level, fwmark, user, one nested table per section, the cross-section
 * check), the stats section, and the glue the section tables in config_keys_*.c share
 * (config_keys.h). The walker is yaml_walk.c; value syntaxes are config_parse.c. */
#include "base/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config_keys.h"
#include "base/config_parse.h"
#include "base/domainset.h"
#include "base/privdrop.h"
#include "base/yaml_walk.h"

#define CONFIG_FILE_MAX (16u << 20)

_Static_assert(sizeof(enum run_mode) == sizeof(int), "walk_enum stores an int");
_Static_assert(sizeof(enum log_level) == sizeof(int), "walk_enum stores an int");
_Static_assert(sizeof(enum proxy_type) == sizeof(int), "walk_enum stores an int");
_Static_assert(sizeof(enum rules_scope) == sizeof(int), "walk_enum stores an int");
_Static_assert(sizeof(enum upstream_policy) == sizeof(int), "walk_enum stores an int");

const char *config_quote(const char *s, size_t len, char *buf)
{
	return walk_quote(s, len, buf, QBUF);
}

int config_oom(struct walk *w)
{
	return walk_fail(w, "out of memory");
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

static int config_walk_stats_listen(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_stats *st = base;

	(void)k;
	return config_listen(w, &st->listen, &st->listen_len, true);
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

/* ---- the top level and stats ---- */

static const char *const mode_names[] = { "tun", "redirect", NULL };
static const char *const level_names[] = { "error", "warn", "info", "debug", NULL };

enum { SK_LISTEN, SK_ALLOW };

static bool stats_listen_loopback(const struct config_stats *st)
{
	const struct sockaddr_storage *ss = &st->listen;

	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* A stats endpoint reachable from elsewhere must say who may read it. */
static int stats_check(struct walk *w, const struct walk_seen *seen, bool present,
		       yaml_mark_t owner, void *base)
{
	struct config_stats *st = base;

	(void)present;
	(void)owner;
	st->enable = st->listen_len != 0;
	if (st->enable && !stats_listen_loopback(st) && st->allow.n == 0)
		return walk_fail_plain(w, seen[SK_LISTEN].value,
				       "stats.listen: a non-loopback address needs stats.allow "
				       "(the CIDRs allowed to read statistics)");
	return 0;
}

static const struct walk_key stats_keys[] = {
	[SK_LISTEN] = K_FN("listen", struct config_stats, listen, config_walk_stats_listen),
	[SK_ALLOW] = K_LIST("allow", struct config_stats, allow, config_item_cidr, 0, 0),
};
static const struct walk_table stats_table = TABLE(stats_keys, stats_check);

static const struct walk_key config_keys[] = {
	K_ENUM("mode", struct config, mode, mode_names),
	K_ENUM("log-level", struct config, log_level, level_names),
	K_UINT("fwmark", struct config, fwmark, 1, 0xffffffffLL, WALK_F_HEX),
	K_FN("user", struct config, user, config_walk_user),
	K_MAP("proxy", struct config, proxy, config_proxy_table),
	{ .name = "proxies", .fn = config_walk_proxies },
	K_MAP("upstream", struct config, upstream, config_upstream_table),
	K_MAP("tun", struct config, tun, config_tun_table),
	K_MAP("redirect", struct config, redirect, config_redirect_table),
	K_MAP("capture", struct config, capture, config_capture_table),
	K_MAP("rules", struct config, rules, config_rules_table),
	K_MAP("dns", struct config, dns, config_dns_table),
	K_MAP("gateway", struct config, gateway, config_gateway_table),
	K_MAP("stats", struct config, stats, stats_table),
};

/* Checks across the sections. */
static int config_check(struct walk *w, const struct walk_seen *seen, bool present,
			yaml_mark_t owner, void *base)
{
	struct config *c = base;
	size_t i, ip = 0, ips = 0;

	(void)present;
	for (i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		if (!strcmp(config_keys[i].name, "proxy"))
			ip = i;
		else if (!strcmp(config_keys[i].name, "proxies"))
			ips = i;
	}
	if (seen[ip].seen && seen[ips].seen)
		return walk_fail_plain(w, seen[ips].key, "proxy and proxies exclude each other: "
				       "give one upstream as proxy: or several as proxies:");
	/* From here on, proxies[] holds every upstream and proxy the first. */
	if (!c->n_proxies) {
		c->proxies[0] = c->proxy;
		if (!c->proxies[0].name[0])
			snprintf(c->proxies[0].name, sizeof(c->proxies[0].name), "proxy");
		c->n_proxies = 1;
	}
	c->proxy = c->proxies[0];
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
	config_proxy_defaults(&c->proxy);
	c->upstream.policy = UPSTREAM_FAILOVER;
	c->upstream.check_interval = 30;
	c->upstream.check_timeout = 5;
	snprintf(c->upstream.check_url, sizeof(c->upstream.check_url), "%s",
		 "http://www.gstatic.com/generate_204");
	snprintf(c->upstream.check_host, sizeof(c->upstream.check_host), "%s", "www.gstatic.com");
	c->upstream.check_port = 80;
	snprintf(c->upstream.check_path, sizeof(c->upstream.check_path), "%s", "/generate_204");
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
	struct config_ctx ctx = { .base_dir = base_dir };
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
	free(cfg->redirect.uids.v);
	free(cfg->redirect.exclude_uids.v);
	free(cfg->rules.cn_cidrs.v);
	free(cfg->rules.bypass_cidrs.v);
	str_list_free(&cfg->capture.cgroups);
	str_list_free(&cfg->rules.bypass_cidr_files);
	str_list_free(&cfg->rules.bypass_domains);
	str_list_free(&cfg->rules.block_domains);
	str_list_free(&cfg->rules.block_domain_files);
	domainset_unref(cfg->rules.block_set);
	str_list_free(&cfg->rules.proxy_domains);
	free(cfg->dns.domestic.v);
	free(cfg->dns.foreign.v);
	free(cfg->dns.disable_qtypes.v);
	free(cfg->gateway.lan.v);
	free(cfg->stats.allow.v);
	for (i = 0; i < cfg->dns.n_hosts; i++) {
		free(cfg->dns.hosts[i].name);
		free(cfg->dns.hosts[i].addrs);
	}
	free(cfg->dns.hosts);
	explicit_bzero(cfg, sizeof(*cfg)); /* wipes the password; a second free is a no-op */
}
