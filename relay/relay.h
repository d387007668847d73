/* relay.h -- sessions: one captured client connection relayed to an upstream through a proxy.
 *
 * Both capture modes feed this one relay: redirect mode's client side is an accepted
 * socket, tun mode's will be an lwIP pcb. The capture side supplies `client_ops` and
 * tells the relay when its side became readable or writable; the relay owns the
 * upstream socket, the proxy state, the buffers and the timers, and frees all of a
 * session in one place (session_close).
 */
#ifndef SNET_RELAY_H
#define SNET_RELAY_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proxy/proxy.h"
#include "base/buf.h"
#include "base/config.h"

struct config;
struct resolver;
struct relay;
struct session;

/* TCP keepalive for both sides of a session: the first probe after idle seconds of
 * silence, one every intvl seconds, the peer declared gone after cnt unanswered ones. */
struct keepalive {
	unsigned idle, intvl, cnt;
};

/* How the relay reads from and writes to the captured (client) connection. */
struct client_ops {
	/* >0 bytes, 0 at EOF, -1 with errno (EAGAIN: nothing now, the capture side will
	 * call relay_client_ready when there is). */
	ssize_t (*read)(struct session *s, void *buf, size_t cap);
	/* Bytes taken (>= 0), or -1 with errno (EAGAIN counts as 0 taken). */
	ssize_t (*write)(struct session *s, const void *buf, size_t len);
	/* Asks to be told (relay_client_ready) when the side is readable / writable. */
	void (*want)(struct session *s, bool read, bool write);
	void (*shutdown_write)(struct session *s);
	/* Releases the client side; reset: make the peer see a RST. */
	void (*close)(struct session *s, bool reset);
	/* Optional (a client side that is a TCP connection): arms keepalive on it; a peer
	 * that stops answering is then reported as a read error ETIMEDOUT or through
	 * relay_client_failed. 0, or -1 with errno. */
	int (*keepalive)(struct session *s, const struct keepalive *ka);
};

enum session_state { S_RESOLVING, S_CONNECTING, S_HANDSHAKE, S_RELAY, S_CLOSED };

/* A proxy built from one config (ops + its state), shared by the sessions and UDP flows
 * opened while it was current; freed with its last reference. */
struct proxy_inst {
	const struct proxy_ops *ops;
	void *priv;
	struct config_proxy cfg;
	unsigned refs;
};

struct session {
	struct relay *relay;
	struct session *prev, *next; /* relay's live list, or next on the dead list */
	struct proxy_inst *proxy; /* a reference */
	enum session_state state;
	struct target target;
	char desc[200]; /* "client -> original destination" for every log line */

	/* client side, owned through client_ops */
	const struct client_ops *cops;
	int cfd;
	ev_io cio;
	void *cpriv; /* tun mode: the pcb */
	bool c_want_rd, c_want_wr;

	/* upstream side */
	int ufd;
	ev_io uio;
	struct resolve_req *rreq;
	struct sockaddr_storage uaddr;
	unsigned connect_tries; /* failed connects to the upstream name's addresses */

	ev_timer timer; /* connect deadline, then the idle check (idle-timeout, off by default) */
	ev_tstamp last_active;

	struct buf to_up; /* encoded bytes waiting for the upstream */
	struct buf to_client; /* decoded bytes waiting for the client */
	struct buf hs_in; /* handshake reply bytes */

	bool client_eof, upstream_eof; /* FIN read from that side */
	bool up_shut, client_shut; /* FIN sent to that side */
	uint64_t bytes_up, bytes_down;
	ev_tstamp started;

	void *pconn; /* proxy per-connection state, allocated after this struct */
};

struct relay_stats {
	uint64_t sessions_total, sessions_active, connect_failures;
	uint64_t bytes_up, bytes_down;
};

/* Builds the relay for cfg (the proxy instance, timeouts, fwmark). NULL with err set. */
struct relay *relay_new(struct ev_loop *loop, struct resolver *res, const struct config *cfg,
			char *err, size_t errlen);
/* Takes a new proxy/timeouts for sessions opened from now on; live sessions keep theirs. */
int relay_reconfigure(struct relay *r, const struct config *cfg, char *err, size_t errlen);
/* Closes every session and frees the relay. */
void relay_free(struct relay *r);
const struct relay_stats *relay_stats(const struct relay *r);

/* Starts relaying a captured connection to target. The session takes the client side
 * (cfd or cpriv): on failure it is closed through ops->close. desc is for logs. */
struct session *relay_open(struct relay *r, const struct client_ops *ops, int cfd, void *cpriv,
			   const struct target *t, const char *desc);
/* Fake-IP: for a destination address, the name to open it by: 0 with host set, 1 when
 * the address stands for no name now (the connection is refused), -1 for an ordinary
 * address. */
typedef int (*relay_namer_fn)(void *ctx, const struct sockaddr_storage *dst, char *host,
			      size_t hostlen);
void relay_set_namer(struct relay *r, relay_namer_fn fn, void *ctx);
/* The namer's answer for dst (-1 when there is no namer). */
int relay_fake_name(const struct relay *r, const struct sockaddr_storage *dst, char *host,
		    size_t hostlen);

/* Ends a session from outside the relay (its client side's owner is going away): the
 * client side's close op still runs. */
void relay_session_close(struct session *s);
/* The current proxy, with a reference the caller drops with proxy_inst_put. */
struct proxy_inst *relay_proxy_get(struct relay *r);
void proxy_inst_put(struct proxy_inst *p);
struct resolver *relay_resolver(const struct relay *r);
uint32_t relay_fwmark(const struct relay *r);

/* The loop a session runs on (for the capture side's watchers). */
struct ev_loop *session_loop(const struct session *s);
/* The capture side reports that the client became readable and/or writable. */
void relay_client_ready(struct session *s, bool readable, bool writable);
/* The capture side reports that the client connection failed (err: an errno; ETIMEDOUT
 * when the peer stopped answering), whatever the relay waits for: the session ends. */
void relay_client_failed(struct session *s, int err);

#endif
