/* config_keys.h -- what config.c shares with the section tables in config_keys_*.c: the
 * handlers' context, the key macros (K_BOOL, K_UINT, ...), the value handlers that more than
 * one section uses, and the section tables the top level nests. Private to base/config*.c. */
#ifndef SNET_CONFIG_KEYS_H
#define SNET_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/config.h"
#include "base/yaml_walk.h"

#define QBUF (WALK_QUOTE_MAX + 8)

/* What the handlers need beyond the walk: where relative paths start (NULL: the cwd). */
struct config_ctx {
	const char *base_dir;
	bool have_proxies; /* proxies: was given (proxy: is then not required) */
};

#define FIELD_SIZE(T, f) sizeof(((T *)0)->f)
#define K_MAP(n, T, f, tab) { .name = n, .fn = walk_map, .off = offsetof(T, f), .aux = &tab }
#define K_BOOL(n, T, f) { .name = n, .fn = walk_bool, .off = offsetof(T, f) }
#define K_STR(n, T, f) \
	{ .name = n, .fn = walk_str, .off = offsetof(T, f), .size = FIELD_SIZE(T, f) }
#define K_UINT(n, T, f, lo, hi, fl)                                                             \
	{ .name = n, .fn = walk_uint, .off = offsetof(T, f), .size = FIELD_SIZE(T, f),          \
	  .min = lo, .max = hi, .flags = fl }
#define K_ENUM(n, T, f, names) { .name = n, .fn = walk_enum, .off = offsetof(T, f), .aux = names }
#define K_LIST(n, T, f, it, lo, hi)                                                             \
	{ .name = n, .fn = walk_list, .off = offsetof(T, f), .item = it, .min = lo, .max = hi }
#define K_FN(n, T, f, h) { .name = n, .fn = h, .off = offsetof(T, f), .size = FIELD_SIZE(T, f) }
#define TABLE(keys, chk) { keys, sizeof(keys) / sizeof(keys[0]), chk }

/* s[0..len) quoted for a message into buf (QBUF bytes); returns buf. */
const char *config_quote(const char *s, size_t len, char *buf);
/* Reports "out of memory" at the current event; -1. */
int config_oom(struct walk *w);
int config_uid_list_push(struct uid_list *l, uint32_t x);
/* s[0..len) into out; a relative path is taken from the config file's directory. */
int config_resolve(struct walk *w, const char *s, size_t len, char *out, size_t outsize);
/* An IP:port listener address; empty_ok takes an empty value as "none" (*sl = 0). */
int config_listen(struct walk *w, struct sockaddr_storage *ss, socklen_t *sl, bool empty_ok);

/* Handlers shared by several sections: a file path (char[size], relative to the config's
 * directory) and one CIDR list item (host bits beyond the prefix refused). */
int config_walk_path(struct walk *w, const struct walk_key *k, void *base);
int config_item_cidr(struct walk *w, const struct walk_key *k, void *base, const char *s,
		     size_t len);

/* The sections, one table each (with their nested ones), in config_keys_*.c. */
extern const struct walk_table config_proxy_table; /* config_keys_proxy.c */
extern const struct walk_table config_upstream_table; /* config_keys_proxy.c */
/* proxies: a sequence of proxy mappings (each with a name), into struct config. */
int config_walk_proxies(struct walk *w, const struct walk_key *k, void *base);

extern const struct walk_table config_tun_table; /* config_keys_capture.c */
extern const struct walk_table config_redirect_table; /* config_keys_capture.c */
extern const struct walk_table config_gateway_table; /* config_keys_capture.c */
extern const struct walk_table config_capture_table; /* config_keys_cgroups.c */
extern const struct walk_table config_rules_table; /* config_keys_rules.c */
extern const struct walk_table config_dns_table; /* config_keys_dns.c */

#endif
