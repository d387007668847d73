/* config_keys_proxy.c -- the proxy section's keys: the upstream's type, server, port, AEAD
 * method, credentials and timeouts, and the check of what each type requires; the list
 * of several upstreams (proxies:) and how one is chosen (upstream:). */
#include "base/config_keys.h"

#include <string.h>
#include <strings.h>

#include "base/config_parse.h"

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

static const char *const proxy_type_names[] = { "ss", "http", "socks5", "direct", "https", NULL };

enum { PK_NAME, PK_TYPE, PK_SERVER, PK_PORT, PK_METHOD, PK_PASSWORD, PK_USERNAME, PK_UDP, PK_CONNECT,
       PK_IDLE, PK_KEEPALIVE, PK_CA_FILE, PK_INSECURE };

static int proxy_check(struct walk *w, const struct walk_seen *seen, bool present,
		       yaml_mark_t owner, void *base)
{
	const struct config_proxy *p = base;
	const struct config_ctx *ctx = w->user;

	if (!present && ctx->have_proxies)
		return 0;
	if (p->type == PROXY_TYPE_DIRECT)
		return 0;
	if (!present)
		return walk_fail_plain(w, owner, "missing required key 'proxy' in top level");
	/* w->path: "proxy", or "proxies.N" for one of several. */
	if (!seen[PK_SERVER].seen)
		return walk_fail_plain(w, owner, "missing required key 'server' in %s", w->path);
	if (!seen[PK_PORT].seen)
		return walk_fail_plain(w, owner, "missing required key 'port' in %s", w->path);
	if (p->type == PROXY_TYPE_SS && !seen[PK_PASSWORD].seen)
		return walk_fail_plain(w, owner, "missing required key 'password' in %s "
				       "(required for type ss)", w->path);
	if (p->type == PROXY_TYPE_SS && !p->password[0])
		return walk_fail_plain(w, seen[PK_PASSWORD].value,
				       "%s.password: must not be empty for type ss", w->path);
	/* Their defaults may stand anywhere (the annotated config lists them); a value
	 * only means something for https. */
	if (p->type != PROXY_TYPE_HTTPS && (p->ca_file[0] || p->insecure))
		return walk_fail_plain(w, p->ca_file[0] ? seen[PK_CA_FILE].key :
				       seen[PK_INSECURE].key, "%s: ca-file and insecure are for "
				       "type https", w->path);
	if (p->type == PROXY_TYPE_SOCKS5 && p->password[0] && !p->username[0])
		return walk_fail_plain(w, seen[PK_PASSWORD].value,
				       "%s.password: socks5 authentication (RFC 1929) needs "
				       "%s.username too", w->path, w->path);
	return 0;
}

static int config_walk_name(struct walk *w, const struct walk_key *k, void *base)
{
	const char *s = NULL;
	char q[QBUF];
	size_t len = 0;

	if (walk_scalar(w, "a name", &s, &len) < 0)
		return -1;
	if (len == 0 || len >= k->size)
		return walk_fail(w, "a name of 1..%zu characters", k->size - 1);
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return walk_fail(w, "invalid name '%s' (letters, digits, '-', '_', '.')",
					 config_quote(s, len, q));
	memcpy((char *)base + k->off, s, len);
	((char *)base + k->off)[len] = '\0';
	return 0;
}

static const struct walk_key proxy_keys[] = {
	[PK_NAME] = K_FN("name", struct config_proxy, name, config_walk_name),
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
	[PK_CA_FILE] = K_FN("ca-file", struct config_proxy, ca_file, config_walk_path),
	[PK_INSECURE] = K_BOOL("insecure", struct config_proxy, insecure),
};
const struct walk_table config_proxy_table = TABLE(proxy_keys, proxy_check);

void config_proxy_defaults(struct config_proxy *p)
{
	memset(p, 0, sizeof(*p));
	p->type = PROXY_TYPE_SS;
	snprintf(p->method, sizeof(p->method), "%s", "chacha20-ietf-poly1305");
	p->udp = true;
	p->connect_timeout = 10;
	p->idle_timeout = 0;
	p->keepalive = 60;
}

int config_walk_proxies(struct walk *w, const struct walk_key *k, void *base)
{
	struct config *c = base;
	struct config_ctx *ctx = (struct config_ctx *)w->user;
	const struct walk_key item = { .name = k->name, .fn = walk_map, .aux = &config_proxy_table };
	yaml_mark_t start = walk_mark(w);

	if (w->ev.type != YAML_SEQUENCE_START_EVENT)
		return walk_fail_type(w, "a sequence of proxy mappings");
	for (;;) {
		struct config_proxy *p;
		char idx[24];
		size_t saved;
		int rc;

		if (walk_next(w) < 0)
			return -1;
		if (w->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (c->n_proxies == CONFIG_PROXIES_MAX)
			return walk_fail(w, "at most %d proxies", CONFIG_PROXIES_MAX);
		if (w->ev.type != YAML_MAPPING_START_EVENT)
			return walk_fail_type(w, "a mapping (one proxy)");
		p = &c->proxies[c->n_proxies];
		config_proxy_defaults(p);
		snprintf(p->name, sizeof(p->name), "proxy%zu", c->n_proxies + 1);
		snprintf(idx, sizeof(idx), "%zu", c->n_proxies);
		saved = walk_path_push(w, idx);
		rc = walk_map(w, &item, p);
		walk_path_pop(w, saved);
		if (rc < 0)
			return -1;
		for (size_t i = 0; i < c->n_proxies; i++)
			if (!strcmp(c->proxies[i].name, p->name))
				return walk_fail_at(w, start, "two proxies are named '%s'", p->name);
		c->n_proxies++;
	}
	if (!c->n_proxies)
		return walk_fail_at(w, start, "at least one proxy is needed");
	ctx->have_proxies = true;
	return 0;
}

/* check-url: http://HOST[:PORT]/PATH, split into its parts. */
static int config_walk_check_url(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_upstream *u = base;
	const char *s = NULL, *host, *end, *slash, *colon;
	char q[QBUF];
	size_t len = 0;
	int64_t port = 80;

	(void)k;
	if (walk_scalar(w, "a URL", &s, &len) < 0)
		return -1;
	if (len >= sizeof(u->check_url) || len < 8 || memcmp(s, "http://", 7) != 0)
		return walk_fail(w, "invalid check URL '%s' (expected http://HOST[:PORT]/PATH)",
				 config_quote(s, len, q));
	host = s + 7;
	end = s + len;
	slash = memchr(host, '/', (size_t)(end - host));
	if (!slash)
		slash = end;
	colon = NULL;
	if (host < slash && host[0] == '[') { /* [IPv6]:PORT */
		const char *rb = memchr(host, ']', (size_t)(slash - host));
		if (rb && rb + 1 < slash && rb[1] == ':')
			colon = rb + 1;
	} else {
		colon = memchr(host, ':', (size_t)(slash - host));
	}
	if (colon && (walk_parse_int(colon + 1, (size_t)(slash - colon - 1), false, &port) < 0 ||
		      port < 1 || port > 65535))
		return walk_fail(w, "invalid port in check URL '%s'", config_quote(s, len, q));
	if (config_parse_host(host, (size_t)((colon ? colon : slash) - host), u->check_host,
			      sizeof(u->check_host)) < 0 ||
	    (size_t)(end - slash) >= sizeof(u->check_path))
		return walk_fail(w, "invalid check URL '%s' (expected http://HOST[:PORT]/PATH)",
				 config_quote(s, len, q));
	for (const char *c = slash; c < end; c++)
		if (*c <= ' ' || *c == 0x7f)
			return walk_fail(w, "invalid check URL '%s': no spaces or control characters",
					 config_quote(s, len, q));
	u->check_port = (uint16_t)port;
	if (slash == end)
		snprintf(u->check_path, sizeof(u->check_path), "/");
	else
		snprintf(u->check_path, sizeof(u->check_path), "%.*s", (int)(end - slash), slash);
	memcpy(u->check_url, s, len);
	u->check_url[len] = '\0';
	return 0;
}

static const char *const policy_names[] = { "failover", "fastest", "round-robin", NULL };

static const struct walk_key upstream_keys[] = {
	K_ENUM("policy", struct config_upstream, policy, policy_names),
	K_FN("check-url", struct config_upstream, check_url, config_walk_check_url),
	K_UINT("check-interval", struct config_upstream, check_interval, 0, 86400, 0),
	K_UINT("check-timeout", struct config_upstream, check_timeout, 1, 300, 0),
};
const struct walk_table config_upstream_table = TABLE(upstream_keys, NULL);
