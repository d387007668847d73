/* sysresolv.c -- reads the system's resolvers from /etc/resolv.conf (parsing in
 * lookup_parse.c). */
#include "dns/sysresolv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "dns/lookup_parse.h"

#define RESOLV_PATH "/etc/resolv.conf"
#define RESOLV_READ_MAX (64 * 1024) /* resolv.conf is small: only its start is read */

size_t sysresolv_servers(struct host_port out[SYSRESOLV_MAX], size_t *loopback)
{
	static char text[RESOLV_READ_MAX];
	struct sockaddr_storage ss[SYSRESOLV_MAX];
	size_t len = 0, n;
	int fd;

	*loopback = 0;
	fd = open(RESOLV_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (len < sizeof(text)) {
		ssize_t r = read(fd, text + len, sizeof(text) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	n = lookup_parse_resolv(text, len, ss, SYSRESOLV_MAX, loopback);
	for (size_t i = 0; i < n; i++) {
		const void *a = ss[i].ss_family == AF_INET
					? (const void *)&((struct sockaddr_in *)&ss[i])->sin_addr
					: (const void *)&((struct sockaddr_in6 *)&ss[i])->sin6_addr;

		memset(&out[i], 0, sizeof(out[i]));
		inet_ntop(ss[i].ss_family, a, out[i].host, sizeof(out[i].host));
		out[i].port = 53;
	}
	return n;
}
