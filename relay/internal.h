/* internal.h -- what the files of relay/ share, and nothing outside it includes: the
 * session and the relay themselves, and the calls between opening and ending sessions
 * (relay.c), the upstream side's dialing and failing over (dial.c) and the data path
 * (pump.c). */
#ifndef SNET_RELAY_INTERNAL_H
#define SNET_RELAY_INTERNAL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "base/buf.h"
#include "base/log.h"
#include "relay/relay.h"
#include "relay/upstream.h"

#define READ_MAX (64 * 1024)
#define SCRATCH_OUT (READ_MAX + PROXY_DECODE_SLACK + 1024)
#define HS_MAX (32 * 1024) /* largest handshake reply we accept */
#define PUMP_ROUNDS 8 /* reads per event per direction, for fairness */
#define CONNECT_TRIES 4 /* connects per session to the addresses of an upstream name */
#define REPLAY_MAX (64 * 1024) /* client bytes kept for opening again on another upstream */
/* Probes every min(10, idle) s, 3 of them: a vanished peer is found within
 * idle + 3 * min(10, idle) seconds of silence. */
#define KEEPALIVE_INTVL_MAX 10
#define KEEPALIVE_PROBES 3

enum session_state { S_RESOLVING, S_CONNECTING, S_HANDSHAKE, S_RELAY, S_CLOSED };

struct session {
	struct relay *relay;
	LIST_ENTRY(session) link; /* on the relay's live list, then (closed) on its dead list */
	struct proxy_inst *proxy; /* a reference */
	/* Chosen from a group of upstreams (member >= 0; the group referenced), or given
	 * (member -1: direct to our own listener, a check of one upstream). */
	struct upstreams *group;
	int member;
	uint32_t tried; /* members this session went through */
	/* What the client sent, kept until a byte comes back, so that a failure before that
	 * opens the session again through another member with the same bytes. */
	struct buf replay;
	bool replay_off; /* a byte came back, or more than REPLAY_MAX was sent */
	enum session_state state;
	struct target target;
	char desc[200]; /* "client -> original destination" for every log line */

	/* client side: its owner's state, reached through client_ops */
	const struct client_ops *cops;
	void *c;
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
	bool up_finished; /* the proxy's end of stream (finish op) is written */
	uint64_t bytes_up, bytes_down;
	ev_tstamp started;
	ev_tstamp dial_at; /* when the connect to the current upstream began */

	void *pconn; /* proxy per-connection state (conn_size of this proxy's ops) */

	/* for the stats view (relay/report.c) */
	uint64_t id;
	struct relay_upcount *upc; /* its upstream's counters */
	uint64_t upc_up, upc_down; /* of bytes_up/down, what upc was credited with already */
	struct buf sniff; /* the first bytes while a name may still follow (<= SNIFF_MAX) */
	bool sniff_done; /* the host is known, or cannot be learned from the first bytes */
	char host[256]; /* "" unknown */
	uint64_t rate_prev_up, rate_prev_down; /* at the last sample */
	float rate_up, rate_down;
};

/* Counters per upstream name, kept across reloads (up to RELAY_UPCOUNT_MAX names). */
#define RELAY_UPCOUNT_MAX 32
struct relay_upcount {
	char name[64];
	uint64_t opened, open, bytes_up, bytes_down; /* bytes of closed sessions */
};

struct relay {
	struct ev_loop *loop;
	struct resolver *resolver;
	struct upstreams *group; /* for new sessions: the upstreams and their health */
	struct upcheck *check; /* their active checks (NULL: off) */
	struct proxy_inst *direct; /* for targets marked direct (our own DNS listener) */
	relay_namer_fn namer; /* fake-IP: the name behind a destination address */
	void *namer_ctx;
	uint32_t fwmark;
	LIST_HEAD(session_list, session) live;
	struct session_list dead; /* closed, freed by the check watcher */
	ev_check reaper;
	struct relay_stats stats;
	/* EADDRNOTAVAIL: one warning per PORTS_WARN_INTERVAL, counting what it refused */
	ev_tstamp ports_warned;
	uint64_t ports_unwarned;
	uint64_t next_id;
	struct udp_relay *udp; /* whose flows the stats view lists too (NULL: none) */
	struct relay_upcount upc[RELAY_UPCOUNT_MAX];
	size_t n_upc;
	ev_tstamp sampled; /* relay_sample_rates' last time */
	uint8_t *scratch_in; /* READ_MAX */
	uint8_t *scratch_out; /* SCRATCH_OUT */
};

enum close_how { CLOSE_CLEAN, CLOSE_RESET_CLIENT, CLOSE_RESET_UPSTREAM, CLOSE_RESET_BOTH };

/* relay.c */
/* The one place a session ends: logs why once, releases both sides. */
void session_close(struct session *s, enum close_how how, enum log_level lvl, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
/* A read or write on one side failed with err (ETIMEDOUT: the peer vanished). */
void session_side_failed(struct session *s, enum close_how how, enum log_level lvl,
			 const char *side, const char *what, int err);

/* dial.c */
void session_dial(struct session *s);
void session_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
bool session_keepalive(const struct session *s, struct keepalive *ka);
void session_upstream_failed(struct session *s, enum upstream_outcome o, enum close_how how,
			     enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void session_answered(struct session *s);
void member_down(struct relay *r, struct upstreams *g, int i);

/* report.c */
/* The counters of the upstream the session goes through now (at open and failover). */
void session_count_upstream(struct session *s);
void session_uncount_upstream(struct session *s);
/* The first client bytes (all of them so far when the replay buffer still has them). */
void session_sniff(struct session *s, const uint8_t *chunk, size_t len);

/* pump.c */
void upstream_want(struct session *s, bool rd, bool wr);
void client_want(struct session *s, bool rd, bool wr);
int flush_to_up(struct session *s);
void pump_up(struct session *s);
void pump_down(struct session *s);
void session_start_relay(struct session *s);

#endif
