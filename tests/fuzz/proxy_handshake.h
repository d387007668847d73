/* proxy_handshake.h -- the libFuzzer harness shared by fuzz_http.c and fuzz_socks5.c: a
 * proxy driven through its ops table as the relay does: init, start to a target, then the
 * upstream's reply bytes to handshake in pieces until it says OK or ERROR, then decode of
 * what is left (when the proxy has a decode), then fini. The first byte picks credentials
 * (bit 0), the target kind (bits 1-2) and the chunking (the rest). On OK the bytes left in
 * `in` must be the tail of what was fed. */
#ifndef SNET_FUZZ_PROXY_HANDSHAKE_H
#define SNET_FUZZ_PROXY_HANDSHAKE_H

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "proxy/proxy.h"
#include "tests/fuzz/fuzz_target.h"

static int fuzz_proxy_handshake(const struct proxy_ops *ops, enum proxy_type type,
				uint16_t port, const uint8_t *data, size_t size)
{
	struct config_proxy cfg;
	struct buf in = { 0 }, out = { 0 };
	struct target t;
	void *priv = NULL, *conn = NULL;
	char err[256];
	uint32_t seed;
	size_t pos = 1;
	int rc;

	if (size < 1)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.type = type;
	snprintf(cfg.server, sizeof(cfg.server), "127.0.0.1");
	cfg.port = port;
	if (data[0] & 1) {
		snprintf(cfg.username, sizeof(cfg.username), "user");
		snprintf(cfg.password, sizeof(cfg.password), "pass");
	}
	seed = data[0] >> 3;
	if (ops->init(&cfg, &priv, err, sizeof(err)) < 0)
		__builtin_trap();
	conn = calloc(1, ops->conn_size);
	if (!conn)
		abort();
	t = make_target((data[0] >> 1) & 3);
	err[0] = '\0';
	rc = ops->start(priv, conn, &t, &out, err, sizeof(err));
	if (rc == PROXY_ERROR || buf_used(&out) == 0)
		__builtin_trap();
	buf_free(&out);
	while (rc == PROXY_NEED_MORE && pos < size) {
		size_t take;

		seed = seed * 1103515245u + 12345u;
		take = (seed >> 8) % 4 == 0 ? size - pos : 1 + (seed >> 10) % 16;
		if (take > size - pos)
			take = size - pos;
		if (buf_append(&in, data + pos, take) < 0)
			abort();
		pos += take;
		err[0] = '\0';
		rc = ops->handshake(priv, conn, &in, &out, err, sizeof(err));
		if (rc == PROXY_ERROR && !err[0])
			__builtin_trap();
		if (rc != PROXY_OK && rc != PROXY_NEED_MORE && rc != PROXY_ERROR)
			__builtin_trap();
		buf_free(&out); /* what the handshake wants sent */
	}
	if (rc == PROXY_OK) {
		size_t left = buf_used(&in);

		/* the stream bytes kept are exactly the tail of the input fed so far */
		if (left > pos - 1 || (left && memcmp(buf_head(&in), data + pos - left, left) != 0))
			__builtin_trap();
		/* the rest of the input is stream data */
		if (pos < size && buf_append(&in, data + pos, size - pos) < 0)
			abort();
		if (ops->decode && buf_used(&in)) {
			size_t n = 0, len = buf_used(&in);
			uint8_t *dec = malloc(len + PROXY_DECODE_SLACK);

			if (!dec)
				abort();
			ops->decode(conn, buf_head(&in), len, dec, &n, err, sizeof(err));
			if (n > len + PROXY_DECODE_SLACK)
				__builtin_trap();
			free(dec);
		}
		/* a second handshake is out of order */
		if (ops->handshake(priv, conn, &in, &out, err, sizeof(err)) != PROXY_ERROR)
			__builtin_trap();
	}
	if (ops->conn_fini)
		ops->conn_fini(conn);
	free(conn);
	ops->fini(priv);
	buf_free(&in);
	buf_free(&out);
	return 0;
}

#endif
