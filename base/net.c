/* net.c -- small socket helpers: non-blocking sockets, marks, keepalive, address text,
 * original destination, and whether a peer may use a LAN listener. */
#include "base/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

int net_socket(int family, int type)
{
	return socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* Set by net_mark_skip(): the process has no CAP_NET_ADMIN and relies on routes instead. */
static bool mark_skipped;

int net_set_mark(int fd, uint32_t mark)
{
	if (mark_skipped)
		return 0;
	return setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
}

int net_set_transparent(int fd, int family)
{
	int on = 1;

	if (family == AF_INET6)
		return setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof(on));
	return setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof(on));
}

bool net_is_local_addr(const struct sockaddr_storage *a)
{
	struct sockaddr_storage any = *a;
	int fd = socket(a->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool local;

	if (fd < 0)
		return false;
	if (a->ss_family == AF_INET6)
		((struct sockaddr_in6 *)&any)->sin6_port = 0;
	else
		((struct sockaddr_in *)&any)->sin_port = 0;
	local = bind(fd, (const struct sockaddr *)&any, net_sockaddr_len(&any)) == 0;
	close(fd);
	return local;
}

int net_mark_available(uint32_t mark)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc, e;

	if (fd < 0)
		fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

void net_mark_skip(void)
{
	mark_skipped = true;
}

socklen_t net_sockaddr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

uint16_t net_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

const char *net_ntop(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
	} else {
		snprintf(buf, len, "(family %d)", ss->ss_family);
	}
	return buf;
}

bool net_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

int net_pton(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		return 0;
	}
	return -1;
}

int net_listen_tcp(const struct sockaddr_storage *ss, int backlog)
{
	return net_listen_tcp_shared(ss, backlog, false);
}

int net_listen_tcp_shared(const struct sockaddr_storage *ss, int backlog, bool reuseport)
{
	int fd, one = 1, saved;

	fd = net_socket(ss->ss_family, SOCK_STREAM);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)ss, net_sockaddr_len(ss)) < 0)
		goto fail;
	if (listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int net_original_dst(int fd, struct sockaddr_storage *out)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	/* Ask the socket its family rather than guessing from the listener. */
	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	len = sizeof(*out);
	if (local.ss_family == AF_INET6)
		return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, out, &len);
	return getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, out, &len);
}

int net_set_keepalive(int fd, unsigned idle, unsigned intvl, unsigned cnt)
{
	int on = 1, i = (int)idle, v = (int)intvl, c = (int)cnt;

	if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &i, sizeof(i)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &c, sizeof(c)) < 0)
		return -1;
	return setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
}

void net_close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(a, net, bytes))
		return false;
	return !bits || ((a[bytes] ^ net[bytes]) & (uint8_t)(0xff << (8 - bits))) == 0;
}

bool net_peer_allowed(const struct sockaddr_storage *peer, const struct cidr *v, size_t n)
{
	const uint8_t *a;
	int family = peer->ss_family;

	if (family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)peer)->sin_addr;
		if (a[0] == 127)
			return true;
	} else if (family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a))
			return true;
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].family == family && prefix_match(a, v[i].addr, v[i].prefix))
			return true;
	return false;
}

/* The first integers of a /proc/sys file: how many were read. */
static int read_sysctl(const char *path, long *a, long *b)
{
	FILE *f = fopen(path, "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%ld %ld", a, b);
	fclose(f);
	return n < 0 ? 0 : n;
}

int net_port_advice(char *buf, size_t len)
{
	long reuse = -1, lo = 0, hi = 0, unused;

	if (read_sysctl("/proc/sys/net/ipv4/tcp_tw_reuse", &reuse, &unused) < 1 ||
	    read_sysctl("/proc/sys/net/ipv4/ip_local_port_range", &lo, &hi) < 2)
		return 0;
	if (reuse == 1 && hi - lo + 1 >= NET_PORTS_WIDE)
		return 0;
	snprintf(buf, len,
		 "local ports: net.ipv4.tcp_tw_reuse is %ld%s and net.ipv4.ip_local_port_range is "
		 "%ld-%ld (%ld ports): every upstream connection goes to the same server address "
		 "and port, so many short connections can leave them all in TIME_WAIT (connect: "
		 "EADDRNOTAVAIL); set net.ipv4.tcp_tw_reuse=1 and "
		 "net.ipv4.ip_local_port_range=\"10240 65000\" (the package's "
		 "/usr/lib/sysctl.d/60-snet-tun.conf does both)",
		 reuse, reuse == 2 ? " (loopback only, the kernel's default)" : "", lo, hi,
		 hi - lo + 1);
	return 1;
}
