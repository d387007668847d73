/* cgroup.h -- the cgroup-v2 groups capture.cgroups names: found under the cgroup2 mount,
 * created when missing (and removed again at exit, only those), and described for the
 * nft `socket cgroupv2` rules; and `snet-tun run`, which starts a command in a child group
 * of the first one. */
#ifndef SNET_CGROUP_H
#define SNET_CGROUP_H

#include <stddef.h>

struct config;
struct cgroups;

/* The groups of cfg->capture.cgroups, the missing ones created (logged). NULL with err
 * set on failure (nothing left behind); with no groups configured, an empty set. */
struct cgroups *cgroups_open(const struct config *cfg, char *err, size_t errlen);
size_t cgroups_count(const struct cgroups *cg);
/* The i-th group as nft names it (relative to /sys/fs/cgroup) and its depth below the
 * cgroup2 root (nft's `level`). */
const char *cgroups_nft_path(const struct cgroups *cg, size_t i);
unsigned cgroups_level(const struct cgroups *cg, size_t i);
/* Removes the groups it created (deepest first; one still in use stays, logged). */
void cgroups_free(struct cgroups *cg);

/* `snet-tun run -- argv...`: runs argv in <root>/<first capture.cgroups>/run-<pid>, made
 * for it and removed after it exits. Returns the exit status for the process (127 when
 * it could not be started, 128+n for a signal). */
int cgroup_run(const struct config *cfg, char *const argv[]);

#endif
