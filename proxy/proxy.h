/* proxy.h -- the upstream proxy interface.
 *
 * Each proxy type is a protocol state machine with no I/O of its own (sans-IO):
 * the core connects a socket to the upstream, hands what `start` writes to the
 * socket, feeds the upstream's reply bytes to `handshake` until it says PROXY_OK,
 * and from then on passes stream bytes through `encode`/`decode` (or untouched
 * when those are NULL). This keeps every proxy testable and fuzzable without a
 * network, and lets one relay (core/relay.c) serve every proxy and capture mode.
 */
#ifndef SNET_PROXY_H
#define SNET_PROXY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/buf.h"

struct config_proxy;

enum { PROXY_OK = 0, PROXY_NEED_MORE = 1, PROXY_ERROR = -1, PROXY_EOF = 2 };

/* Extra room, beyond the input length, that `decode` may need in its output. */
#define PROXY_DECODE_SLACK (16 * 1024 + 64)
/* The most a proxy's finish op writes (a TLS alert record is 24..31 bytes). */
#define PROXY_FINISH_MAX 256

/* What udp_wrap adds at most: salt, tag, and the longest address header. */
#define PROXY_UDP_OVERHEAD 512

/* How a proxy carries UDP. */
enum proxy_udp {
	PROXY_UDP_NONE = 0, /* no UDP relay */
	PROXY_UDP_TARGET, /* datagrams go to the target itself, unchanged (direct) */
	PROXY_UDP_SERVER, /* datagrams go to the proxy server's UDP port, wrapped (ss) */
	PROXY_UDP_ASSOCIATE, /* a control stream first (start/handshake with a target whose
			      * udp_associate is set), then wrapped datagrams to the relay
			      * address it names (socks5) */
};

/* Where a stream should go: by name when host[0] != 0, else by addr. */
struct target {
	char host[256];
	uint16_t port; /* host byte order */
	struct sockaddr_storage addr; /* family AF_INET/AF_INET6, port set too */
	bool udp_associate; /* socks5: ask for a UDP association, not a stream */
	bool direct; /* relay: connect straight to addr, whatever the proxy (our own listener) */
};

struct proxy_ops {
	const char *name;
	/* true: the upstream socket connects to the target itself (direct). */
	bool dial_target;
	/* Bytes of per-connection state the caller allocates (zeroed) for conn_*. */
	size_t conn_size;

	/* Validates the proxy config and builds the per-proxy state (e.g. the ss
	 * master key). On error writes a message to err and returns -1. */
	int (*init)(const struct config_proxy *cfg, void **priv, char *err, size_t errlen);
	void (*fini)(void *priv);

	/* Writes the first bytes for the upstream into out. Returns PROXY_OK when the
	 * stream is open at once (data may follow), PROXY_NEED_MORE when a reply must
	 * be read through `handshake` first, PROXY_ERROR with err set. */
	int (*start)(void *priv, void *conn, const struct target *t, struct buf *out,
		     char *err, size_t errlen);
	/* Feeds the upstream's bytes during the handshake. Consumes from `in` what it
	 * used and may append to `out`. PROXY_OK: open; bytes left in `in` are stream
	 * data from the upstream, to be handled as if read after the handshake.
	 * NULL when `start` always returns PROXY_OK. */
	int (*handshake)(void *priv, void *conn, struct buf *in, struct buf *out, char *err,
			 size_t errlen);

	/* Upper bound of encode's output for `len` input bytes. NULL with encode. */
	size_t (*encode_bound)(size_t len);
	/* encode frames its input in units of this many bytes (0: no framing): the relay
	 * reads whole units when it can, so no read ends in a small unit of its own that
	 * costs as much to seal as a full one. */
	size_t encode_unit;
	/* client->upstream transform; writes at most encode_bound(len) bytes. */
	int (*encode)(void *conn, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen);
	/* upstream->client transform; consumes all of `in` (keeping partial units
	 * internally) and writes at most len + PROXY_DECODE_SLACK bytes to out.
	 * PROXY_OK, PROXY_EOF (the stream ended inside the protocol, e.g. TLS close_notify:
	 * what is in out is the last of it), or PROXY_ERROR (err set: authentication
	 * failure, bad framing). */
	int (*decode)(void *conn, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen,
		      char *err, size_t errlen);

	/* The client ended its stream: writes what must reach the upstream before its
	 * FIN (TLS: close_notify), at most PROXY_FINISH_MAX bytes. NULL: nothing. */
	void (*finish)(void *conn, uint8_t *out, size_t *outlen);

	/* Frees what conn holds (never the conn memory itself); wipes secrets. */
	void (*conn_fini)(void *conn);

	/* UDP, one datagram at a time (sans-IO too). */
	enum proxy_udp udp;
	/* Wraps a datagram for target t into out (room for len + PROXY_UDP_OVERHEAD);
	 * tmp is scratch of the same size. PROXY_OK or PROXY_ERROR (err set). */
	int (*udp_wrap)(void *priv, const struct target *t, const uint8_t *in, size_t len,
			uint8_t *out, size_t *outlen, uint8_t *tmp, char *err, size_t errlen);
	/* Unwraps a datagram from the upstream: the payload into out (room for len bytes),
	 * the address it says it came from into *from. PROXY_OK or PROXY_ERROR. */
	int (*udp_unwrap)(void *priv, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen,
			  struct sockaddr_storage *from, char *err, size_t errlen);
	/* PROXY_UDP_ASSOCIATE: after the handshake, the relay address the server named
	 * (port set; the address may be unspecified: then it is the server's). 0 or -1. */
	int (*udp_relay_addr)(void *conn, struct sockaddr_storage *out);
};

/* The ops for a config's proxy type. */
const struct proxy_ops *proxy_ops_for(const struct config_proxy *cfg);

extern const struct proxy_ops proxy_ss_ops;
extern const struct proxy_ops proxy_http_ops;
extern const struct proxy_ops proxy_socks5_ops;
extern const struct proxy_ops proxy_direct_ops;
extern const struct proxy_ops proxy_https_ops;

#endif
