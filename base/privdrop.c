/* privdrop.c -- running as a user: `user:` resolved through the passwd database, root
 * dropped to that user with only CAP_NET_ADMIN kept (libcap), and whether this process
 * holds CAP_NET_ADMIN.
 *
 * The order matters. Supplementary groups and the group change while we are still root.
 * setresuid() away from uid 0 empties the permitted set unless PR_SET_KEEPCAPS is on, and
 * it always empties the effective set; cap_set_proc() then leaves CAP_NET_ADMIN alone in
 * permitted and effective (inheritable and, with it, ambient become empty), and
 * no_new_privs closes exec as a way back. Capabilities are per thread, so this refuses to
 * run while any other thread exists (the resolver's workers come and go with queries;
 * none runs before the ready line).
 */
#include "base/privdrop.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PW_BUF 16384

/* "1001" -> 1001; -1 unless the whole string is a uid (not -1). */
static int parse_uid(const char *s, uid_t *out)
{
	unsigned long long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
		if (v >= 4294967295ULL)
			return -1;
	}
	*out = (uid_t)v;
	return 0;
}

int privdrop_lookup(const char *spec, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char *buf = malloc(PW_BUF);
	int rc;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = getpwnam_r(spec, &pw, buf, PW_BUF, &res);
	if (rc == 0 && res) {
		*uid = pw.pw_uid;
		*gid = pw.pw_gid;
		goto ok;
	}
	if (parse_uid(spec, uid) == 0) {
		res = NULL;
		*gid = getpwuid_r(*uid, &pw, buf, PW_BUF, &res) == 0 && res ? pw.pw_gid : (gid_t)*uid;
		goto ok;
	}
	if (rc != 0 && rc != ENOENT && rc != ESRCH)
		snprintf(err, errlen, "cannot look up user \"%s\": %s", spec, strerror(rc));
	else
		snprintf(err, errlen, "no such user \"%s\"", spec);
	free(buf);
	return -1;
ok:
	free(buf);
	return 0;
}

/* Threads in this process, from /proc/self/task; -1 when it cannot be read. */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The user's supplementary groups, or none without a passwd entry. */
static int set_groups(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char *buf = malloc(PW_BUF);
	int rc;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (getpwuid_r(uid, &pw, buf, PW_BUF, &res) == 0 && res)
		rc = initgroups(pw.pw_name, gid);
	else
		rc = setgroups(0, NULL);
	if (rc < 0)
		snprintf(err, errlen, "cannot set the supplementary groups of uid %u: %s",
			 (unsigned)uid, strerror(errno));
	free(buf);
	return rc;
}

/* Permitted and effective: CAP_NET_ADMIN, with bind_low CAP_NET_BIND_SERVICE too, and
 * nothing else. */
static int keep_caps(bool bind_low, char *err, size_t errlen)
{
	cap_value_t keep[] = { CAP_NET_ADMIN, CAP_NET_BIND_SERVICE };
	int n = bind_low ? 2 : 1;
	cap_t caps = cap_init();
	int rc = -1;

	if (!caps) {
		snprintf(err, errlen, "cap_init: %s", strerror(errno));
		return -1;
	}
	if (cap_set_flag(caps, CAP_PERMITTED, n, keep, CAP_SET) < 0 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, n, keep, CAP_SET) < 0 || cap_set_proc(caps) < 0)
		snprintf(err, errlen, "cannot keep CAP_NET_ADMIN%s: %s",
			 bind_low ? " and CAP_NET_BIND_SERVICE" : "", strerror(errno));
	else
		rc = 0;
	cap_free(caps);
	return rc;
}

int privdrop_to(uid_t uid, gid_t gid, bool bind_low, char *err, size_t errlen)
{
	int n = thread_count();

	if (n != 1) {
		snprintf(err, errlen, "cannot switch users while %d threads run (capabilities "
			 "are per thread)", n);
		return -1;
	}
	if (set_groups(uid, gid, err, errlen) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0) {
		snprintf(err, errlen, "PR_SET_KEEPCAPS: %s", strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) < 0) {
		snprintf(err, errlen, "cannot switch to group %u: %s", (unsigned)gid,
			 strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) < 0) {
		snprintf(err, errlen, "cannot switch to uid %u: %s", (unsigned)uid, strerror(errno));
		return -1;
	}
	if (keep_caps(bind_low, err, errlen) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0) {
		snprintf(err, errlen, "prctl: %s", strerror(errno));
		return -1;
	}
	if (uid != 0 && setuid(0) == 0) {
		snprintf(err, errlen, "switched to uid %u but could become root again",
			 (unsigned)uid);
		return -1;
	}
	return 0;
}

bool privdrop_has_net_admin(void)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();

	if (!caps)
		return false;
	if (cap_get_flag(caps, CAP_NET_ADMIN, CAP_EFFECTIVE, &v) < 0)
		v = CAP_CLEAR;
	cap_free(caps);
	return v == CAP_SET;
}
