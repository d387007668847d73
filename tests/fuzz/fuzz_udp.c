/* fuzz_udp.c -- the UDP datagram parsers: the SOCKS5 UDP header (RFC 1928 section 7) and
 * the shadowsocks UDP packet (AEAD open, then the address header). The first byte picks
 * the parser; for ss, an odd byte seals the rest first with the right key so the address
 * header parser sees arbitrary plaintext, not just failed tags. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "proxy/aead.h"
#include "proxy/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *ss_priv;
static uint8_t out[70000], sealed[70000 + PROXY_UDP_OVERHEAD];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage from;
	char err[256];
	size_t n = 0;

	if (size < 1 || size > 65536)
		return 0;
	if (!ss_priv) {
		struct config_proxy cfg;
		memset(&cfg, 0, sizeof(cfg));
		snprintf(cfg.method, sizeof(cfg.method), "chacha20-ietf-poly1305");
		snprintf(cfg.password, sizeof(cfg.password), "fuzz");
		if (proxy_ss_ops.init(&cfg, &ss_priv, err, sizeof(err)) < 0)
			abort();
	}
	switch (data[0] % 3) {
	case 0:
		if (proxy_socks5_ops.udp_unwrap(NULL, data + 1, size - 1, out, &n, &from, err,
						sizeof(err)) == PROXY_OK &&
		    n > size - 1)
			__builtin_trap();
		break;
	case 1:
		proxy_ss_ops.udp_unwrap(ss_priv, data + 1, size - 1, out, &n, &from, err, sizeof(err));
		break;
	default: {
		size_t sl = 0;
		if (aead_udp_seal(ss_priv, data + 1, size - 1, sealed, &sl) < 0)
			abort();
		if (proxy_ss_ops.udp_unwrap(ss_priv, sealed, sl, out, &n, &from, err, sizeof(err)) ==
			    PROXY_OK &&
		    n > size - 1)
			__builtin_trap();
		break;
	}
	}
	return 0;
}
