/* socksaddr.h -- the SOCKS5 address form (ATYP, address or name, port; RFC 1928 section 5)
 * that SOCKS5 requests and UDP headers use and that shadowsocks reuses for its address
 * header: one writer and one reader for both proxies. */
#ifndef SNET_SOCKSADDR_H
#define SNET_SOCKSADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"

enum { SOCKS_ATYP_IPV4 = 1, SOCKS_ATYP_DOMAIN = 3, SOCKS_ATYP_IPV6 = 4 };

/* ATYP + 1-byte length + 255-byte name + port: the longest form. */
#define SOCKSADDR_MAX (1 + 1 + 255 + 2)

/* Writes the IPv4 or IPv6 address of ss with `port` (host order) into out. Bytes
 * written, or 0 when ss is neither family. */
size_t socksaddr_put_ip(const struct sockaddr_storage *ss, uint16_t port, uint8_t *out);
/* Writes a name (len <= 255) with `port` as ATYP 3. Bytes written. */
size_t socksaddr_put_name(const char *name, size_t len, uint16_t port, uint8_t *out);
/* Reads one address from c. 1: an IP address (with its port) into *out; 0: a name,
 * skipped (*out zeroed: a name is no use as a source); -1: truncated or an unknown ATYP. */
int socksaddr_get(struct cursor *c, struct sockaddr_storage *out);

#endif
