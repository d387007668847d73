/* proxy_harness.h -- what the unit tests of the handshaking proxies (test_http.c,
 * test_socks5.c) share: a proxy instance and one connection's state driven through the
 * ops table, and targets by name or address. The including file defines `ops` first. */
#ifndef SNET_PROXY_HARNESS_H
#define SNET_PROXY_HARNESS_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "proxy/proxy.h"

struct hs {
	void *priv;
	void *conn;
	struct buf in, out;
	char err[256];
};

/* An instance of `ops` for a proxy of `type` at 127.0.0.1:port, and one connection. */
static int hs_init_type(struct hs *h, enum proxy_type type, uint16_t port, const char *user,
			const char *pass)
{
	struct config_proxy cfg;

	memset(h, 0, sizeof(*h));
	memset(&cfg, 0, sizeof(cfg));
	cfg.type = type;
	snprintf(cfg.server, sizeof(cfg.server), "127.0.0.1");
	cfg.port = port;
	snprintf(cfg.username, sizeof(cfg.username), "%s", user);
	snprintf(cfg.password, sizeof(cfg.password), "%s", pass);
	if (ops->init(&cfg, &h->priv, h->err, sizeof(h->err)) < 0)
		return -1;
	h->conn = calloc(1, ops->conn_size);
	return h->conn ? 0 : -1;
}

static void hs_free(struct hs *h)
{
	if (ops->conn_fini && h->conn)
		ops->conn_fini(h->conn);
	free(h->conn);
	if (h->priv)
		ops->fini(h->priv);
	buf_free(&h->in);
	buf_free(&h->out);
}

static struct target target_name(const char *host, uint16_t port)
{
	struct target t;

	memset(&t, 0, sizeof(t));
	snprintf(t.host, sizeof(t.host), "%s", host);
	t.port = port;
	return t;
}

static struct target target_ip(const char *ip, uint16_t port)
{
	struct target t;

	memset(&t, 0, sizeof(t));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t.addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &sin6->sin6_addr);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t.addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, ip, &sin->sin_addr);
	}
	t.port = port;
	return t;
}

/* The buffer holds exactly the n bytes p. */
static bool buf_eq(const struct buf *b, const void *p, size_t n)
{
	return buf_used(b) == n && (n == 0 || memcmp(buf_head(b), p, n) == 0);
}

#endif
