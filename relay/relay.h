/* relay.h -- sessions: one client connection relayed to an upstream through a proxy.
 *
 * Both capture modes feed this one relay: redirect mode's client side is an accepted
 * socket (capture/redirect.c), tun mode's an lwIP pcb (netstack/netstack.c); the DNS
 * resolver's tunnel (dns/up_tunnel.c) and a SOCKS5 UDP association's control stream
 * (relay/udp.c) are client sides held in memory. The client side's owner supplies
 * `client_ops` and its own state (an opaque pointer the ops get back) and tells the
 * relay when its side became readable or writable; the relay owns the upstream socket,
 * the proxy state, the buffers and the timers, and frees all of a session in one place
 * (session_close). A session is opaque outside relay.c.
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

/* How the relay reads from and writes to the client side; `c` is the pointer its owner
 * gave relay_open. */
struct client_ops {
	/* >0 bytes, 0 at EOF, -1 with errno (EAGAIN: nothing now, the owner will call
	 * relay_client_ready when there is). */
	ssize_t (*read)(void *c, void *buf, size_t cap);
	/* Bytes taken (>= 0), or -1 with errno (EAGAIN counts as 0 taken). */
	ssize_t (*write)(void *c, const void *buf, size_t len);
	/* Asks to be told (relay_client_ready) when the side is readable / writable. */
	void (*want)(void *c, bool read, bool write);
	void (*shutdown_write)(void *c);
	/* Releases the client side (the relay never uses c again); reset: make the peer
	 * see a RST. */
	void (*close)(void *c, bool reset);
	/* Optional (a client side that is a TCP connection): arms keepalive on it; a peer
	 * that stops answering is then reported as a read error ETIMEDOUT or through
	 * relay_client_failed. 0, or -1 with errno. */
	int (*keepalive)(void *c, const struct keepalive *ka);
	/* Optional: the proxy handshake is done and bytes flow from now on. */
	void (*established)(void *c);
};

/* A proxy built from one config (ops + its state), shared by the sessions and UDP flows
 * opened while it was current; freed with its last reference. */
struct proxy_inst {
	const struct proxy_ops *ops;
	void *priv;
	struct config_proxy cfg;
	unsigned refs;
};

struct relay_stats {
	uint64_t sessions_total, sessions_active, connect_failures;
	uint64_t bytes_up, bytes_down;
	/* of connect_failures: no local port was free for the upstream connection (every
	 * one toward the same server address and port, so TIME_WAIT can hold them all) */
	uint64_t connect_addrnotavail;
};

/* One open session as the stats view shows it (relay/report.c); the strings live until
 * the callback returns. host: the name the client asked for (fake-IP name, TLS SNI or
 * HTTP Host), NULL when unknown; rates in bytes/s over the last relay_sample_rates
 * interval. */
struct relay_conn {
	uint64_t id;
	const char *proto; /* "tcp", or "udp" for a UDP flow */
	const char *src, *dst; /* "addr:port" */
	const struct sockaddr_storage *dst_addr; /* NULL when the target is only a name */
	const char *host;
	const char *upstream; /* the member's name, or the proxy's for a given instance */
	const char *state; /* "dialing" until bytes flow, then "relay" */
	uint64_t bytes_up, bytes_down;
	double rate_up, rate_down, age_s;
};
typedef void (*relay_conn_fn)(void *ctx, const struct relay_conn *c);
/* Calls fn for every open session. */
void relay_conns_foreach(const struct relay *r, relay_conn_fn fn, void *ctx);
/* A UDP relay (relay/udp.c) made for r shows its flows in relay_conns_foreach, and takes
 * an id for each from the same sequence as the sessions. */
struct udp_relay;
struct udp_stats;
void relay_attach_udp(struct relay *r, struct udp_relay *u);
void relay_detach_udp(struct relay *r, struct udp_relay *u);
uint64_t relay_next_conn_id(struct relay *r);
/* The attached UDP relay's counters (NULL when there is none). */
const struct udp_stats *relay_udp_stats(const struct relay *r);
/* Samples every session's byte counters: the rates are the change since the last call
 * over the time between. Called once a second by whoever shows rates. */
void relay_sample_rates(struct relay *r);
/* Per upstream (name) since start: sessions opened and open, bytes each way; health and
 * the last check's latency (seconds, < 0 unknown) for the current group's members. */
struct relay_upstream_figures {
	const char *name;
	bool member; /* in the current group (health and latency are meaningful) */
	const char *health; /* "unknown", "up", "down" */
	double latency;
	uint64_t sessions_total, sessions_open, bytes_up, bytes_down;
};
typedef void (*relay_upstream_fn)(void *ctx, const struct relay_upstream_figures *u);
void relay_upstreams_foreach(const struct relay *r, relay_upstream_fn fn, void *ctx);

/* Builds the relay for cfg (the proxy instance, timeouts, fwmark). NULL with err set. */
struct relay *relay_new(struct ev_loop *loop, struct resolver *res, const struct config *cfg,
			char *err, size_t errlen);
/* Takes a new proxy/timeouts for sessions opened from now on; live sessions keep theirs. */
int relay_reconfigure(struct relay *r, const struct config *cfg, char *err, size_t errlen);
/* Closes every session and frees the relay. */
void relay_free(struct relay *r);
const struct relay_stats *relay_stats(const struct relay *r);
/* The upstreams for new sessions and their health, "a:up,b:down" (names as configured),
 * into buf (cut short when it does not fit). */
void relay_describe_upstreams(const struct relay *r, char *buf, size_t len);

/* Starts relaying the client side c (through ops) to target, with the current proxy (or
 * the direct one for t->direct). The session takes c: when it ends, or cannot start,
 * ops->close(c) runs. The session, or NULL when it has ended already (c closed). The
 * ops may be called before this returns. desc is for logs. */
struct session *relay_open(struct relay *r, const struct client_ops *ops, void *c,
			   const struct target *t, const char *desc);
/* The same through the given proxy instance (e.g. the one a UDP flow started with). */
struct session *relay_open_via(struct relay *r, struct proxy_inst *p, const struct client_ops *ops,
			       void *c, const struct target *t, const char *desc);
/* After ops->established: the relay address a UDP association's proxy named, with an
 * unspecified address replaced by the proxy's own. 0, or -1 when there is none. */
int relay_session_udp_relay_addr(const struct session *s, struct sockaddr_storage *out);
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
struct upstreams;
/* Whether the first round of active checks of the upstreams has ended (or there is none):
 * the ready line waits for it. */
bool relay_checks_ready(const struct relay *r);
/* An active check's result for member i of g (relay/upcheck.c): the member's health, and
 * its established sessions reset when it went down. */
void relay_upstream_checked(struct relay *r, struct upstreams *g, int i, bool ok, double latency,
			    const char *why);
/* A proxy instance for cfg (one reference). NULL with err set. */
struct proxy_inst *proxy_inst_new(const struct config_proxy *cfg, char *err, size_t errlen);
/* The upstream a new flow takes now (by the policy), with a reference the caller drops
 * with proxy_inst_put; NULL when none is up. */
struct proxy_inst *relay_proxy_get(struct relay *r);
/* For a flow that took p earlier: the upstream it should move to, because p's member
 * (by name) is down now and the policy picks another (a reference, as relay_proxy_get);
 * NULL when it should stay (p is not down, it is alone, or nothing better is up). */
struct proxy_inst *relay_proxy_instead(struct relay *r, const struct proxy_inst *p);
void proxy_inst_put(struct proxy_inst *p);
struct resolver *relay_resolver(const struct relay *r);
uint32_t relay_fwmark(const struct relay *r);

/* The capture side reports that the client became readable and/or writable. */
void relay_client_ready(struct session *s, bool readable, bool writable);
/* The capture side reports that the client connection failed (err: an errno; ETIMEDOUT
 * when the peer stopped answering), whatever the relay waits for: the session ends. */
void relay_client_failed(struct session *s, int err);

#endif
