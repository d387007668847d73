/* seccomp-run.c -- runs a command under an allow-list seccomp filter, as systemd would
 * for a unit's SystemCallFilter= with SystemCallErrorNumber=EPERM: every syscall named in
 * LIST (one name a line; blank lines and '#' comments skipped) is allowed, every other
 * one fails with EPERM. no_new_privs is set first (libseccomp's default, and the unit's
 * NoNewPrivileges=yes). Names this architecture lacks are skipped, as systemd skips them.
 *
 *   seccomp-run LIST CMD [ARG...]
 *
 * Exits 125 when the filter cannot be built or CMD cannot be run. */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int add_names(scmp_filter_ctx ctx, const char *path, unsigned *added, unsigned *skipped)
{
	char line[128];
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "seccomp-run: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = line + strspn(line, " \t");
		int nr, rc;

		s[strcspn(s, " \t\r\n#")] = '\0';
		if (!*s)
			continue;
		nr = seccomp_syscall_resolve_name(s);
		if (nr == __NR_SCMP_ERROR) {
			(*skipped)++;
			continue;
		}
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0 && rc != -EEXIST) {
			fprintf(stderr, "seccomp-run: allow %s: %s\n", s, strerror(-rc));
			fclose(f);
			return -1;
		}
		(*added)++;
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned added = 0, skipped = 0;
	scmp_filter_ctx ctx;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: seccomp-run LIST CMD [ARG...]\n");
		return 125;
	}
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx) {
		fprintf(stderr, "seccomp-run: seccomp_init failed\n");
		return 125;
	}
	if (add_names(ctx, argv[1], &added, &skipped) < 0)
		goto fail;
	rc = seccomp_load(ctx);
	if (rc < 0) {
		fprintf(stderr, "seccomp-run: seccomp_load: %s\n", strerror(-rc));
		goto fail;
	}
	seccomp_release(ctx);
	fprintf(stderr, "seccomp-run: %u syscalls allowed (%u names unknown here), the rest EPERM\n",
		added, skipped);
	execvp(argv[2], argv + 2);
	fprintf(stderr, "seccomp-run: %s: %s\n", argv[2], strerror(errno));
	return 125;
fail:
	seccomp_release(ctx);
	return 125;
}
