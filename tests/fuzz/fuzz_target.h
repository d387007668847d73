/* fuzz_target.h -- the targets the proxy fuzz targets open connections to: a host name,
 * an IPv4 address, an IPv6 address, or an IPv6 literal given as a name (kind 0..3). */
#ifndef SNET_FUZZ_TARGET_H
#define SNET_FUZZ_TARGET_H

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "proxy/proxy.h"

static struct target make_target(unsigned kind)
{
	struct target t;

	memset(&t, 0, sizeof(t));
	t.port = 443;
	if (kind == 0) {
		snprintf(t.host, sizeof(t.host), "example.com");
	} else if (kind == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t.addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(t.port);
		inet_pton(AF_INET, "198.18.0.7", &sin->sin_addr);
	} else if (kind == 2) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t.addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(t.port);
		inet_pton(AF_INET6, "fd00::1:2", &sin6->sin6_addr);
	} else {
		snprintf(t.host, sizeof(t.host), "fd00::5");
	}
	return t;
}

#endif
