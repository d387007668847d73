/* config_keys_rules.c -- the rules section's keys: scope, bypass CIDRs (inline, and from
 * files read at load time), bypass/proxy/block domains and block-list files, block-uncaptured;
 * the CN lists (named, or found in the data directories for bypass-cn). */
#include "base/config_keys.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/config_parse.h"
#include "base/domainset.h"

/* Where the package installs data/ (cn-ipv4-cidrs.txt, cn-ipv6-cidrs.txt). */
#ifndef SNET_DATADIR
#define SNET_DATADIR "/usr/share/snet-tun"
#endif

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

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* rules.block-domain-files: each file read into r->block_set now, so --check sees bad lines. */
static int config_item_block_file(struct walk *w, const struct walk_key *k, void *base,
				  const char *s, size_t len)
{
	struct config_rules *r = base;
	char path[CONFIG_PATH_MAX], msg[160], q[QBUF];
	size_t line, col;
	double t0 = now_ms();
	int rc;

	(void)k;
	if (len == 0 || walk_is_null(w))
		return walk_fail_type(w, "a file path");
	if (config_resolve(w, s, len, path, sizeof(path)) < 0)
		return -1;
	if (str_list_push(&r->block_domain_files, path) < 0)
		return config_oom(w);
	if (!r->block_set && !(r->block_set = domainset_new()))
		return config_oom(w);
	rc = domainset_load_file(r->block_set, path, &line, &col, msg, sizeof(msg));
	r->block_load_ms += now_ms() - t0;
	if (rc == -2)
		return walk_fail_in(w, path, line, col, "%s", msg);
	if (rc == -3)
		return config_oom(w);
	if (rc < 0)
		return walk_fail(w, "cannot read block list '%s': %s",
				 config_quote(path, strlen(path), q), config_read_strerror(errno));
	return 0;
}

/* The first data directory holding cn-ipv4-cidrs.txt, in this order: SNET_DATADIR (the
 * package's copy), share/snet-tun under the binary's prefix (an install elsewhere, e.g.
 * /usr/local/sbin/snet-tun -> /usr/local/share/snet-tun), then data/ of the source tree a
 * build directory sits in (build/snet-tun -> data/). Fills r's file names; -1 when none
 * has it, with the paths tried in `tried`. */
static int config_find_cn_data(struct config_rules *r, char *tried, size_t triedlen)
{
	char exe[PATH_MAX], dirs[3][PATH_MAX], cand[PATH_MAX + 32], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t ndirs = 1, o = 0;

	snprintf(dirs[0], sizeof(dirs[0]), "%s", SNET_DATADIR);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(dirs[1], sizeof(dirs[1]), "%.*s/../share/snet-tun", PATH_MAX - 32, exe);
			snprintf(dirs[2], sizeof(dirs[2]), "%.*s/../data", PATH_MAX - 32, exe);
			ndirs = 3;
		}
	}
	tried[0] = '\0';
	for (size_t i = 0; i < ndirs; i++) {
		snprintf(cand, sizeof(cand), "%s/cn-ipv4-cidrs.txt", dirs[i]);
		if (o < triedlen)
			o += (size_t)snprintf(tried + o, triedlen - o, "%s%s", i ? ", " : "", cand);
		if (access(cand, R_OK) < 0 || !realpath(cand, exe))
			continue;
		snprintf(r->cn_cidr_file, sizeof(r->cn_cidr_file), "%s", exe);
		snprintf(cand, sizeof(cand), "%s/cn-ipv6-cidrs.txt", dirs[i]);
		if (access(cand, R_OK) == 0 && realpath(cand, exe))
			snprintf(r->cn_cidr6_file, sizeof(r->cn_cidr6_file), "%s", exe);
		r->cn_default = true;
		return 0;
	}
	return -1;
}

static const char *const scope_names[] = { "global", "bypass-cn", NULL };

enum { RK_SCOPE, RK_CN_FILE, RK_CN6_FILE, RK_CIDRS, RK_CIDR_FILES, RK_DOMAINS, RK_BLOCK,
       RK_BLOCK_FILES, RK_PROXY_DOMAINS, RK_BLOCK_UNCAPTURED };

static int rules_check(struct walk *w, const struct walk_seen *seen, bool present,
		       yaml_mark_t owner, void *base)
{
	struct config_rules *r = base;
	char tried[2 * PATH_MAX];
	size_t before;

	(void)present;
	if (r->block_set) {
		double t0 = now_ms();
		if (domainset_seal(r->block_set) < 0)
			return config_oom(w);
		r->block_load_ms += now_ms() - t0;
	}
	if (r->scope == SCOPE_BYPASS_CN && !seen[RK_CN_FILE].seen && !seen[RK_CN6_FILE].seen &&
	    config_find_cn_data(r, tried, sizeof(tried)) < 0)
		return walk_fail_plain(w, owner, "rules: scope bypass-cn without cn-cidr-file, "
				       "and no installed CN list (looked for %s): %s", tried,
				       strerror(ENOENT));
	if (r->scope == SCOPE_BYPASS_CN && seen[RK_CN_FILE].seen && !r->cn_cidr_file[0])
		return walk_fail_plain(w, seen[RK_CN_FILE].value, "rules.cn-cidr-file: must not be "
				       "empty with scope bypass-cn");
	/* Loaded whenever given: dns split resolution uses them in every scope. */
	if (r->cn_cidr_file[0] &&
	    config_cidr_file(w, r->cn_default ? owner : seen[RK_CN_FILE].value,
			     "rules.cn-cidr-file", r->cn_cidr_file, &r->cn_cidrs) < 0)
		return -1;
	r->cn_n4 = before = r->cn_cidrs.n;
	if (r->cn_cidr6_file[0] &&
	    config_cidr_file(w, r->cn_default ? owner : seen[RK_CN6_FILE].value,
			     "rules.cn-cidr6-file", r->cn_cidr6_file, &r->cn_cidrs) < 0)
		return -1;
	r->cn_n6 = r->cn_cidrs.n - before;
	return 0;
}

static const struct walk_key rules_keys[] = {
	[RK_SCOPE] = K_ENUM("scope", struct config_rules, scope, scope_names),
	[RK_CN_FILE] = K_FN("cn-cidr-file", struct config_rules, cn_cidr_file, config_walk_path),
	[RK_CN6_FILE] = K_FN("cn-cidr6-file", struct config_rules, cn_cidr6_file,
			     config_walk_path),
	[RK_CIDRS] = K_LIST("bypass-cidrs", struct config_rules, bypass_cidrs, config_item_cidr, 0,
			    0),
	[RK_CIDR_FILES] = K_LIST("bypass-cidr-files", struct config_rules, bypass_cidr_files,
				 config_item_cidr_file, 0, 0),
	[RK_DOMAINS] = K_LIST("bypass-domains", struct config_rules, bypass_domains,
			      config_item_domain, 0, 0),
	[RK_BLOCK] = K_LIST("block-domains", struct config_rules, block_domains,
			    config_item_domain, 0, 0),
	[RK_BLOCK_FILES] = K_LIST("block-domain-files", struct config_rules, block_domain_files,
				  config_item_block_file, 0, 0),
	[RK_PROXY_DOMAINS] = K_LIST("proxy-domains", struct config_rules, proxy_domains,
				    config_item_domain, 0, 0),
	[RK_BLOCK_UNCAPTURED] = K_BOOL("block-uncaptured", struct config_rules, block_uncaptured),
};
const struct walk_table config_rules_table = TABLE(rules_keys, rules_check);
