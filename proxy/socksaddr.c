/* socksaddr.c -- writing and reading the SOCKS5 address form (see socksaddr.h). */
#include "proxy/socksaddr.h"

#include <netinet/in.h>
#include <string.h>

static size_t put_port(uint8_t *p, uint16_t port)
{
	p[0] = (uint8_t)(port >> 8);
	p[1] = (uint8_t)port;
	return 2;
}

size_t socksaddr_put_ip(const struct sockaddr_storage *ss, uint16_t port, uint8_t *out)
{
	if (ss->ss_family == AF_INET) {
		out[0] = SOCKS_ATYP_IPV4;
		memcpy(out + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return 1 + 4 + put_port(out + 5, port);
	}
	if (ss->ss_family == AF_INET6) {
		out[0] = SOCKS_ATYP_IPV6;
		memcpy(out + 1, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		return 1 + 16 + put_port(out + 17, port);
	}
	return 0;
}

size_t socksaddr_put_name(const char *name, size_t len, uint16_t port, uint8_t *out)
{
	out[0] = SOCKS_ATYP_DOMAIN;
	out[1] = (uint8_t)len;
	memcpy(out + 2, name, len);
	return 2 + len + put_port(out + 2 + len, port);
}

int socksaddr_get(struct cursor *c, struct sockaddr_storage *out)
{
	uint8_t atyp, l;

	memset(out, 0, sizeof(*out));
	if (!cursor_u8(c, &atyp))
		return -1;
	if (atyp == SOCKS_ATYP_IPV4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)out;
		if (!cursor_bytes(c, &s4->sin_addr, 4) || !cursor_bytes(c, &s4->sin_port, 2))
			return -1;
		s4->sin_family = AF_INET;
		return 1;
	}
	if (atyp == SOCKS_ATYP_IPV6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
		if (!cursor_bytes(c, &s6->sin6_addr, 16) || !cursor_bytes(c, &s6->sin6_port, 2))
			return -1;
		s6->sin6_family = AF_INET6;
		return 1;
	}
	if (atyp == SOCKS_ATYP_DOMAIN && cursor_u8(c, &l) && cursor_skip(c, (size_t)l + 2))
		return 0;
	return -1;
}
