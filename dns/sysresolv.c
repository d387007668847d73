/* sysresolv.c -- reads the system's resolver files, and the resolvers of /etc/resolv.conf
 * (parsing in lookup_parse.c). */
#include "dns/sysresolv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/lookup_parse.h"

char *sysresolv_read(const char *path, size_t *len)
{
	char *buf = malloc(SYSRESOLV_FILE_MAX);
	size_t n = 0;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	while (n < SYSRESOLV_FILE_MAX) {
		ssize_t r = read(fd, buf + n, SYSRESOLV_FILE_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

size_t sysresolv_servers(struct host_port out[SYSRESOLV_MAX], size_t *loopback)
{
	struct sockaddr_storage ss[SYSRESOLV_MAX];
	size_t len = 0, n;
	char *text;

	*loopback = 0;
	text = sysresolv_read(SYSRESOLV_PATH, &len);
	if (!text)
		return 0;
	n = lookup_parse_resolv(text, len, ss, SYSRESOLV_MAX, loopback);
	free(text);
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
