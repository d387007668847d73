/* config_keys_rules.c -- the rules section's keys: scope, bypass CIDRs (inline, and from
 * files read at load time), bypass/proxy/block domains, block-uncaptured; the cn-cidr-file
 * check. */
#include "base/config_keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/config_parse.h"

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

static const char *const scope_names[] = { "global", "bypass-cn", NULL };

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
