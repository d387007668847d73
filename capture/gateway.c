/* gateway.c -- IP forwarding for the gateway role and the peer check of the listeners opened
 * for the LAN (see gateway.h). */
#include "capture/gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

static const char *const fwd_path[2] = { "/proc/sys/net/ipv4/ip_forward",
					 "/proc/sys/net/ipv6/conf/all/forwarding" };

/* Reads the sysctl into buf (trailing newline dropped). 0 or -1, errno set. */
static int fwd_read(int i, char *buf, size_t len)
{
	int fd = open(fwd_path[i], O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = 0;
	return 0;
}

static int fwd_write(int i, const char *val)
{
	int fd = open(fwd_path[i], O_WRONLY | O_CLOEXEC);
	size_t len = strlen(val);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, len);
	if (n != (ssize_t)len) {
		int saved = n < 0 ? errno : EIO;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

int gateway_fwd_on(struct gateway_fwd *f, bool v4, bool v6, char *err, size_t errlen)
{
	const bool want[2] = { v4, v6 };

	for (int i = 0; i < 2; i++) {
		char cur[sizeof(f->old[i])];

		if (!want[i] || f->changed[i])
			continue;
		if (fwd_read(i, cur, sizeof(cur)) < 0)
			goto fail;
		if (!strcmp(cur, "1"))
			continue; /* on already: nothing to restore */
		if (fwd_write(i, "1") < 0)
			goto fail;
		memcpy(f->old[i], cur, sizeof(cur));
		f->changed[i] = true;
		continue;
fail:
		snprintf(err, errlen, "gateway: cannot turn forwarding on (%s): %s", fwd_path[i],
			 strerror(errno));
		return -1;
	}
	return 0;
}

int gateway_fwd_restore(struct gateway_fwd *f, char *err, size_t errlen)
{
	int rc = 0;

	for (int i = 0; i < 2; i++) {
		if (!f->changed[i])
			continue;
		f->changed[i] = false;
		if (fwd_write(i, f->old[i]) < 0 && rc == 0) {
			snprintf(err, errlen, "gateway: cannot restore %s to %s: %s", fwd_path[i],
				 f->old[i], strerror(errno));
			rc = -1;
		}
	}
	return rc;
}

bool gateway_lan_has(const struct cidr_list *lan, int family)
{
	for (size_t i = 0; i < lan->n; i++)
		if (lan->v[i].family == family)
			return true;
	return false;
}
