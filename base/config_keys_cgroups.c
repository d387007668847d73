/* config_keys_cgroups.c -- the capture section's keys: cgroups, the cgroup-v2 paths whose
 * processes alone are captured (either mode). */
#include "base/config_keys.h"

#include <stdlib.h>
#include <string.h>

#include "base/config_parse.h"

#define CGROUP_PATH_MAX 512

/* One path: relative to the cgroup2 root (a leading '/' is dropped), components that are
 * neither empty, "." nor "..", printable characters other than '"' and '\'. */
static int config_item_cgroup(struct walk *w, const struct walk_key *k, void *base,
			      const char *s, size_t len)
{
	struct str_list *l = (struct str_list *)((char *)base + k->off);
	char q[QBUF], *dup, **v;
	size_t i, start;

	while (len && *s == '/') {
		s++;
		len--;
	}
	while (len && s[len - 1] == '/')
		len--;
	if (len == 0 || len >= CGROUP_PATH_MAX)
		return walk_fail(w, "invalid cgroup path '%s' (expected a cgroup-v2 path below the "
				 "cgroup2 root, like snet/browser)", config_quote(s, len, q));
	for (i = 0, start = 0; i <= len; i++) {
		if (i < len && s[i] != '/') {
			if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\')
				return walk_fail(w, "invalid cgroup path '%s' (no spaces, quotes or "
						 "backslashes)", config_quote(s, len, q));
			continue;
		}
		if (i == start || (i - start == 1 && s[start] == '.') ||
		    (i - start == 2 && !strncmp(s + start, "..", 2)))
			return walk_fail(w, "invalid cgroup path '%s' (empty, '.' or '..' component)",
					 config_quote(s, len, q));
		start = i + 1;
	}
	for (i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == len && !strncmp(l->v[i], s, len))
			return walk_fail(w, "cgroup path '%s' is listed twice", config_quote(s, len, q));
	dup = strndup(s, len);
	v = dup ? config_vec_grow(l->v, l->n, sizeof(*v)) : NULL;
	if (!v) {
		free(dup);
		return config_oom(w);
	}
	l->v = v;
	l->v[l->n++] = dup;
	return 0;
}

static const struct walk_key capture_keys[] = {
	K_LIST("cgroups", struct config_capture, cgroups, config_item_cgroup, 0, 0),
};
const struct walk_table config_capture_table = TABLE(capture_keys, NULL);
