/* cgroup.c -- the cgroup-v2 groups capture.cgroups names: finding the cgroup2 mount,
 * creating the missing groups and removing only those again, their names and depths for
 * the nft rules; and `snet-tun run`, a command in a child group of the first one. */
#include "capture/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/config.h"
#include "base/log.h"

#define NFT_CGROUP_BASE "/sys/fs/cgroup" /* nft looks a group's path up below this */

struct cgroup_one {
	char *nft; /* path relative to NFT_CGROUP_BASE */
	unsigned level;
};

struct cgroups {
	struct cgroup_one *v;
	size_t n;
	char **made; /* directories we created, in creation order */
	size_t n_made;
};

/* The first cgroup2 mount point from /proc/self/mounts. 0, or -1 with err set. */
static int cgroup_mount(char *out, size_t len, char *err, size_t errlen)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char dev[256], dir[PATH_MAX], type[64];
	int found = 0;

	if (!f) {
		snprintf(err, errlen, "cgroup: /proc/self/mounts: %s", strerror(errno));
		return -1;
	}
	while (!found && fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3)
		found = !strcmp(type, "cgroup2");
	fclose(f);
	if (!found) {
		snprintf(err, errlen, "cgroup: no cgroup2 file system is mounted (%s)",
			 strerror(ENOENT));
		return -1;
	}
	snprintf(out, len, "%s", dir);
	return 0;
}

static int made_push(struct cgroups *cg, const char *dir)
{
	char **v = realloc(cg->made, (cg->n_made + 1) * sizeof(*v));
	char *d = strdup(dir);

	if (v)
		cg->made = v;
	if (!v || !d) {
		free(d);
		return -1;
	}
	cg->made[cg->n_made++] = d;
	return 0;
}

/* mkdir -p root/rel, noting what it made. */
static int make_group(struct cgroups *cg, const char *root, const char *rel, char *err,
		      size_t errlen)
{
	char dir[PATH_MAX];
	size_t base = (size_t)snprintf(dir, sizeof(dir), "%s/", root);

	if (base + strlen(rel) >= sizeof(dir)) {
		snprintf(err, errlen, "cgroup: %s/%s: %s", root, rel, strerror(ENAMETOOLONG));
		return -1;
	}
	strcpy(dir + base, rel);
	for (char *p = dir + base;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(dir, 0755) == 0) {
			log_info("cgroup: created %s (removed at exit)", dir);
			if (made_push(cg, dir) < 0) {
				rmdir(dir);
				snprintf(err, errlen, "cgroup: %s", strerror(ENOMEM));
				return -1;
			}
		} else if (errno != EEXIST) {
			snprintf(err, errlen, "cgroup: cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
		*p = c;
		if (!c)
			return 0;
	}
}

struct cgroups *cgroups_open(const struct config *cfg, char *err, size_t errlen)
{
	struct cgroups *cg = calloc(1, sizeof(*cg));
	const struct str_list *l = &cfg->capture.cgroups;
	char root[PATH_MAX], prefix[PATH_MAX] = "";

	if (!cg || (l->n && !(cg->v = calloc(l->n, sizeof(*cg->v))))) {
		snprintf(err, errlen, "cgroup: %s", strerror(ENOMEM));
		goto fail;
	}
	if (!l->n)
		return cg;
	if (cgroup_mount(root, sizeof(root), err, errlen) < 0)
		goto fail;
	/* nft names a group by its path below /sys/fs/cgroup: the mount must be there. */
	size_t nb = strlen(NFT_CGROUP_BASE);
	if (strncmp(root, NFT_CGROUP_BASE, nb) || (root[nb] && root[nb] != '/')) {
		snprintf(err, errlen, "cgroup: the cgroup2 file system is mounted on %s, not "
			 "below " NFT_CGROUP_BASE " where nft looks (%s)", root, strerror(ENOTSUP));
		goto fail;
	}
	if (root[nb])
		snprintf(prefix, sizeof(prefix), "%s/", root + nb + 1);
	for (size_t i = 0; i < l->n; i++) {
		if (make_group(cg, root, l->v[i], err, errlen) < 0)
			goto fail;
		if (asprintf(&cg->v[i].nft, "%s%s", prefix, l->v[i]) < 0) {
			cg->v[i].nft = NULL;
			snprintf(err, errlen, "cgroup: %s", strerror(ENOMEM));
			goto fail;
		}
		cg->v[i].level = 1;
		for (const char *p = l->v[i]; *p; p++)
			cg->v[i].level += *p == '/';
		cg->n = i + 1;
	}
	return cg;
fail:
	cgroups_free(cg);
	return NULL;
}

size_t cgroups_count(const struct cgroups *cg)
{
	return cg ? cg->n : 0;
}

const char *cgroups_nft_path(const struct cgroups *cg, size_t i)
{
	return cg->v[i].nft;
}

unsigned cgroups_level(const struct cgroups *cg, size_t i)
{
	return cg->v[i].level;
}

void cgroups_free(struct cgroups *cg)
{
	if (!cg)
		return;
	for (size_t i = cg->n_made; i-- > 0;) {
		if (rmdir(cg->made[i]) == 0)
			log_info("cgroup: removed %s", cg->made[i]);
		else
			log_warn("cgroup: cannot remove %s: %s", cg->made[i], strerror(errno));
		free(cg->made[i]);
	}
	if (cg->v)
		for (size_t i = 0; i < cg->n; i++)
			free(cg->v[i].nft);
	free(cg->made);
	free(cg->v);
	free(cg);
}

/* Writes "0" (this process) into dir/cgroup.procs. 0 or -1 (errno). */
static int join_group(const char *dir)
{
	char path[PATH_MAX + 16];
	int fd, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = write(fd, "0", 1) == 1 ? 0 : -1;
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

int cgroup_run(const struct config *cfg, char *const argv[])
{
	char root[PATH_MAX], dir[PATH_MAX], err[512];
	int status, rc = 127;
	pid_t pid;

	if (!cfg->capture.cgroups.n) {
		log_error("run: capture.cgroups is empty in the configuration, so no group is "
			  "captured (%s)", strerror(EINVAL));
		return 127;
	}
	if (cgroup_mount(root, sizeof(root), err, sizeof(err)) < 0) {
		log_error("run: %s", err);
		return 127;
	}
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s/run-%ld", root, cfg->capture.cgroups.v[0],
			     (long)getpid()) >= sizeof(dir)) {
		log_error("run: %s: %s", dir, strerror(ENAMETOOLONG));
		return 127;
	}
	if (mkdir(dir, 0755) < 0) {
		log_error("run: cannot create %s: %s (is snet-tun running with capture.cgroups "
			  "'%s'?)", dir, strerror(errno), cfg->capture.cgroups.v[0]);
		return 127;
	}
	pid = fork();
	if (pid < 0) {
		log_error("run: fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		if (join_group(dir) < 0) {
			fprintf(stderr, "snet-tun run: cannot join %s: %s\n", dir, strerror(errno));
			_exit(127);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "snet-tun run: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* The command gets the terminal's signals itself; we wait for it. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			log_error("run: waitpid: %s", strerror(errno));
			goto out;
		}
	}
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
	if (rmdir(dir) < 0)
		log_warn("run: cannot remove %s: %s (a process the command started is still "
			 "in it)", dir, strerror(errno));
	return rc;
}
