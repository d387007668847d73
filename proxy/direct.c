/* direct.c -- the "direct" proxy: the upstream socket connects to the target itself, so
 * there is nothing to send, no handshake and no transform. */
#include "proxy/proxy.h"

static int direct_start(void *priv, void *conn, const struct target *t, struct buf *out, char *err,
			size_t errlen)
{
	(void)priv;
	(void)conn;
	(void)t;
	(void)out;
	(void)err;
	(void)errlen;
	return PROXY_OK;
}

const struct proxy_ops proxy_direct_ops = {
	.name = "direct",
	.dial_target = true,
	.conn_size = 0,
	.init = NULL,
	.fini = NULL,
	.start = direct_start,
	.handshake = NULL,
	.encode_bound = NULL,
	.encode = NULL,
	.decode = NULL,
	.conn_fini = NULL,
	.udp = PROXY_UDP_TARGET,
};
