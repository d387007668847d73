/* config_keys_proxy.c -- the proxy section's keys: the upstream's type, server, port, AEAD
 * method, credentials and timeouts, and the check of what each type requires. */
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

static const char *const proxy_type_names[] = { "ss", "http", "socks5", "direct", NULL };

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
