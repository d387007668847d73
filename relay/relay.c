/* relay.c -- the one relay: opens the upstream for a captured connection (resolve,
 * connect, proxy handshake), then moves bytes both ways with backpressure and
 * half-close, and frees each session in one place.
 *
 * Data path per direction: read from the source into a shared scratch buffer,
 * transform it (ss encode/decode) into a second scratch buffer, write to the
 * destination. Only a partial write copies the rest into a per-session buffer;
 * while that buffer holds bytes the source is not read (backpressure). An idle
 * session therefore holds no buffers at all.
 */
#include "relay/relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/config.h"
#include "base/log.h"
#include "base/net.h"
#include "base/resolve.h"
#include "base/util.h"
#include "relay/upcheck.h"
#include "relay/upstream.h"

#define READ_MAX (64 * 1024)
#define SCRATCH_OUT (READ_MAX + PROXY_DECODE_SLACK + 1024)
#define HS_MAX (32 * 1024) /* largest handshake reply we accept */
#define PUMP_ROUNDS 8 /* reads per event per direction, for fairness */
#define CONNECT_TRIES 4 /* connects per session to the addresses of an upstream name */
#define REPLAY_MAX (64 * 1024) /* client bytes kept for opening again on another upstream */

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
	uint64_t bytes_up, bytes_down;
	ev_tstamp started;

	void *pconn; /* proxy per-connection state (conn_size of this proxy's ops) */
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
	uint8_t *scratch_in; /* READ_MAX */
	uint8_t *scratch_out; /* SCRATCH_OUT */
};

void proxy_inst_put(struct proxy_inst *p)
{
	if (!p || --p->refs > 0)
		return;
	if (p->ops->fini)
		p->ops->fini(p->priv);
	explicit_bzero(&p->cfg, sizeof(p->cfg));
	free(p);
}

struct proxy_inst *proxy_inst_new(const struct config_proxy *cfg, char *err, size_t errlen)
{
	struct proxy_inst *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, errlen, "proxy: out of memory");
		return NULL;
	}
	p->ops = proxy_ops_for(cfg);
	p->cfg = *cfg;
	p->refs = 1;
	if (p->ops->init && p->ops->init(cfg, &p->priv, err, errlen) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

/* ---- watcher helpers ---------------------------------------------------- */

static void io_set(struct ev_loop *loop, ev_io *w, int events)
{
	if (w->fd < 0)
		return;
	if ((w->events & (EV_READ | EV_WRITE)) == events && ev_is_active(w) == (events != 0))
		return;
	ev_io_stop(loop, w);
	ev_io_set(w, w->fd, events);
	if (events)
		ev_io_start(loop, w);
}

static void upstream_want(struct session *s, bool rd, bool wr)
{
	io_set(s->relay->loop, &s->uio, (rd ? EV_READ : 0) | (wr ? EV_WRITE : 0));
}

static void client_want(struct session *s, bool rd, bool wr)
{
	if (s->c_want_rd == rd && s->c_want_wr == wr)
		return;
	s->c_want_rd = rd;
	s->c_want_wr = wr;
	s->cops->want(s->c, rd, wr);
}

/* ---- the one place a session ends ------------------------------------- */

enum close_how { CLOSE_CLEAN, CLOSE_RESET_CLIENT, CLOSE_RESET_UPSTREAM, CLOSE_RESET_BOTH };

static void session_close(struct session *s, enum close_how how, enum log_level lvl,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void session_close(struct session *s, enum close_how how, enum log_level lvl,
			  const char *fmt, ...)
{
	struct relay *r = s->relay;
	char why[256];
	va_list ap;

	if (s->state == S_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_msg(lvl, "%s: %s (up %llu B, down %llu B, %.1f s)", s->desc, why,
		(unsigned long long)s->bytes_up, (unsigned long long)s->bytes_down,
		ev_now(r->loop) - s->started);
	if (s->state < S_RELAY)
		r->stats.connect_failures++;
	s->state = S_CLOSED;

	ev_timer_stop(r->loop, &s->timer);
	resolver_cancel(s->rreq);
	s->rreq = NULL;
	if (s->ufd >= 0) {
		ev_io_stop(r->loop, &s->uio);
		if (how == CLOSE_RESET_UPSTREAM || how == CLOSE_RESET_BOTH)
			net_close_reset(s->ufd);
		else
			close(s->ufd);
		s->ufd = -1;
	}
	s->cops->close(s->c, how == CLOSE_RESET_CLIENT || how == CLOSE_RESET_BOTH);
	if (s->proxy->ops->conn_fini)
		s->proxy->ops->conn_fini(s->pconn);
	free(s->pconn);
	s->pconn = NULL;
	proxy_inst_put(s->proxy);
	s->proxy = NULL;
	upstreams_put(s->group);
	s->group = NULL;
	buf_free(&s->to_up);
	buf_free(&s->to_client);
	buf_free(&s->hs_in);
	buf_free(&s->replay);
	r->stats.sessions_active--;

	/* Off the live list; the memory goes after this callback returns. */
	LIST_REMOVE(s, link);
	LIST_INSERT_HEAD(&r->dead, s, link);
}

/* A read or write on one side failed with err. ETIMEDOUT is what the kernel (and the
 * netstack, for lwIP's aborts) reports when the peer stopped answering: the keepalive
 * probes or the retransmissions went unanswered, so that peer vanished. */
static void session_side_failed(struct session *s, enum close_how how, enum log_level lvl,
				const char *side, const char *what, int err)
{
	if (err == ETIMEDOUT)
		session_close(s, how, LOG_INFO, "%s vanished: no answer to keepalive probes or "
			      "retransmissions (%s)", side, strerror(err));
	else
		session_close(s, how, lvl, "%s %s failed: %s", side, what, strerror(err));
}

/* ---- several upstreams: what a session found, failing over ------------- */

static void session_dial(struct session *s);

/* Member i of g is down: the established sessions through it (by name: a reload's group
 * has objects of its own) are reset, so their applications reconnect through another. */
static void member_down(struct relay *r, struct upstreams *g, int i)
{
	const char *name = upstreams_name(g, i);
	struct session *s, *next;

	for (s = LIST_FIRST(&r->live); s; s = next) {
		next = LIST_NEXT(s, link);
		if (s->member < 0 || s->state != S_RELAY || !s->bytes_down ||
		    strcmp(upstreams_name(s->group, s->member), name) != 0)
			continue;
		session_close(s, CLOSE_RESET_BOTH, LOG_INFO, "upstream %s is down", name);
	}
}

static void session_report(struct session *s, enum upstream_outcome o, const char *why)
{
	if (s->member >= 0 && upstreams_report(s->group, s->member, o, why, ev_now(s->relay->loop)))
		member_down(s->relay, s->group, s->member);
}

/* Opens the session again through member `next`, after its upstream failed before any
 * byte came back: the upstream side starts over; what the client sent goes again once
 * the new upstream is ready (session_start_relay). */
static void session_retry(struct session *s, int next, const char *why)
{
	struct relay *r = s->relay;
	struct proxy_inst *p = upstreams_proxy(s->group, next);
	void *pconn = p->ops->conn_size ? calloc(1, p->ops->conn_size) : NULL;

	if (p->ops->conn_size && !pconn) {
		session_close(s, CLOSE_RESET_BOTH, LOG_ERROR, "out of memory");
		return;
	}
	log_info("%s: upstream %s: %s; opening it again through %s", s->desc,
		 upstreams_name(s->group, s->member), why, upstreams_name(s->group, next));
	client_want(s, false, false);
	ev_timer_stop(r->loop, &s->timer);
	resolver_cancel(s->rreq);
	s->rreq = NULL;
	if (s->ufd >= 0) {
		ev_io_stop(r->loop, &s->uio);
		net_close_reset(s->ufd);
		s->ufd = -1;
	}
	if (s->proxy->ops->conn_fini)
		s->proxy->ops->conn_fini(s->pconn);
	free(s->pconn);
	proxy_inst_put(s->proxy);
	s->proxy = p;
	p->refs++;
	s->pconn = pconn;
	s->member = next;
	s->tried |= 1u << next;
	buf_free(&s->to_up);
	buf_free(&s->to_client);
	buf_free(&s->hs_in);
	s->upstream_eof = s->up_shut = false;
	s->connect_tries = 0;
	s->state = S_RESOLVING;
	ev_timer_set(&s->timer, p->cfg.connect_timeout, 0.);
	ev_timer_start(r->loop, &s->timer);
	session_dial(s);
}

/* The upstream failed before any byte came back to the client (o: how). The member is
 * told; the session opens again through the next member that may be used, with what
 * the client sent, or, when there is none (or too much was sent to keep), ends as it
 * would have with one upstream. */
static void session_upstream_failed(struct session *s, enum upstream_outcome o,
				    enum close_how how, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void session_upstream_failed(struct session *s, enum upstream_outcome o,
				    enum close_how how, enum log_level lvl, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	int next = -1;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	session_report(s, o, why);
	if (s->member >= 0 && !s->replay_off && !s->bytes_down && !s->client_shut)
		next = upstreams_pick(s->group, s->tried, ev_now(s->relay->loop));
	if (next < 0)
		session_close(s, how, lvl, "%s", why);
	else
		session_retry(s, next, why);
}

/* A byte came back: this upstream works, and the session stays with it. */
static void session_answered(struct session *s)
{
	if (s->replay_off)
		return;
	s->replay_off = true;
	buf_free(&s->replay);
	session_report(s, UPSTREAM_OK, "a connection through it was answered");
}

static void relay_reap(struct ev_loop *loop, ev_check *w, int revents)
{
	struct relay *r = container_of(w, struct relay, reaper);
	struct session *s;

	(void)loop;
	(void)revents;
	while ((s = LIST_FIRST(&r->dead))) {
		LIST_REMOVE(s, link);
		free(s);
	}
}

/* Arms exactly the notifications the session's state calls for: a side is read only
 * while the other side has nothing pending (backpressure), written only while
 * something waits for it. */
static void session_arm(struct session *s)
{
	bool up_pending = buf_used(&s->to_up) > 0;
	bool client_pending = buf_used(&s->to_client) > 0;

	client_want(s, !up_pending && !s->client_eof, client_pending);
	upstream_want(s, !client_pending && !s->upstream_eof, up_pending);
}

static void session_maybe_done(struct session *s)
{
	if (s->state == S_RELAY && s->up_shut && s->client_shut)
		session_close(s, CLOSE_CLEAN, LOG_DEBUG, "closed");
}

/* ---- client -> upstream ----------------------------------------------- */

/* Writes what waits for the upstream. 1 drained, 0 still pending, -1 closed the session. */
static int flush_to_up(struct session *s)
{
	while (buf_used(&s->to_up) > 0) {
		ssize_t n = send(s->ufd, buf_head(&s->to_up), buf_used(&s->to_up), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			if (!s->bytes_down && errno != ETIMEDOUT)
				session_upstream_failed(s, UPSTREAM_EARLY_CLOSE, CLOSE_RESET_CLIENT,
							LOG_WARN, "upstream write failed: %s",
							strerror(errno));
			else
				session_side_failed(s, CLOSE_RESET_CLIENT, LOG_WARN, "upstream",
						    "write", errno);
			return -1;
		}
		buf_consume(&s->to_up, (size_t)n);
	}
	return 1;
}

static void send_fin_up(struct session *s)
{
	if (s->up_shut)
		return;
	shutdown(s->ufd, SHUT_WR);
	s->up_shut = true;
	session_maybe_done(s);
}

/* Sends data to the upstream, keeping what the socket does not take. 0 or -1 (closed). */
static int write_up(struct session *s, const uint8_t *p, size_t len)
{
	ssize_t n = send(s->ufd, p, len, MSG_NOSIGNAL);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			if (!s->bytes_down && errno != ETIMEDOUT)
				session_upstream_failed(s, UPSTREAM_EARLY_CLOSE, CLOSE_RESET_CLIENT,
							LOG_WARN, "upstream write failed: %s",
							strerror(errno));
			else
				session_side_failed(s, CLOSE_RESET_CLIENT, LOG_WARN, "upstream",
						    "write", errno);
			return -1;
		}
		n = 0;
	}
	if ((size_t)n < len && buf_append(&s->to_up, p + n, len - (size_t)n) < 0) {
		session_close(s, CLOSE_RESET_BOTH, LOG_ERROR, "out of memory");
		return -1;
	}
	return 0;
}

static void pump_up(struct session *s)
{
	struct relay *r = s->relay;
	const struct proxy_ops *ops = s->proxy->ops;

	for (int round = 0; round < PUMP_ROUNDS; round++) {
		const uint8_t *data = r->scratch_in;
		size_t len;
		ssize_t n;

		if (buf_used(&s->to_up) > 0 || s->client_eof)
			break;
		n = s->cops->read(s->c, r->scratch_in, READ_MAX);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			session_side_failed(s, CLOSE_RESET_UPSTREAM, LOG_INFO, "client", "read", errno);
			return;
		}
		if (n == 0) {
			s->client_eof = true;
			break;
		}
		len = (size_t)n;
		s->bytes_up += len;
		r->stats.bytes_up += len;
		if (!s->replay_off && (buf_used(&s->replay) + len > REPLAY_MAX ||
				       buf_append(&s->replay, r->scratch_in, len) < 0)) {
			s->replay_off = true; /* too much to send again: no failing over */
			buf_free(&s->replay);
		}
		if (ops->encode) {
			ops->encode(s->pconn, r->scratch_in, len, r->scratch_out, &len);
			data = r->scratch_out;
		}
		if (write_up(s, data, len) < 0)
			return;
	}
	s->last_active = ev_now(r->loop);
	if (s->client_eof && buf_used(&s->to_up) == 0) {
		send_fin_up(s);
		if (s->state == S_CLOSED)
			return;
	}
	session_arm(s);
}

/* ---- upstream -> client ----------------------------------------------- */

static void send_fin_client(struct session *s)
{
	if (s->client_shut)
		return;
	s->cops->shutdown_write(s->c);
	s->client_shut = true;
	session_maybe_done(s);
}

/* Writes decoded data to the client, keeping what it does not take. 0 or -1 (closed). */
static int write_client(struct session *s, const uint8_t *p, size_t len)
{
	ssize_t n = 0;

	if (buf_used(&s->to_client) == 0) {
		n = s->cops->write(s->c, p, len);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				session_side_failed(s, CLOSE_RESET_UPSTREAM, LOG_INFO, "client",
						    "write", errno);
				return -1;
			}
			n = 0;
		}
	}
	if ((size_t)n < len && buf_append(&s->to_client, p + n, len - (size_t)n) < 0) {
		session_close(s, CLOSE_RESET_BOTH, LOG_ERROR, "out of memory");
		return -1;
	}
	return 0;
}

/* Decodes (when the proxy transforms) and forwards upstream bytes. 0 or -1 (closed). */
static int deliver_down(struct session *s, const uint8_t *p, size_t len)
{
	struct relay *r = s->relay;
	const struct proxy_ops *ops = s->proxy->ops;
	char err[160];

	if (ops->decode) {
		size_t out = 0;
		if (ops->decode(s->pconn, p, len, r->scratch_out, &out, err, sizeof(err)) != PROXY_OK) {
			if (!s->bytes_down)
				session_upstream_failed(s, UPSTREAM_FAILED, CLOSE_RESET_BOTH, LOG_WARN,
							"%s", err);
			else
				session_close(s, CLOSE_RESET_BOTH, LOG_WARN, "%s", err);
			return -1;
		}
		p = r->scratch_out;
		len = out;
	}
	if (!len)
		return 0;
	session_answered(s);
	s->bytes_down += len;
	r->stats.bytes_down += len;
	return write_client(s, p, len);
}

static void pump_down(struct session *s)
{
	struct relay *r = s->relay;

	for (int round = 0; round < PUMP_ROUNDS; round++) {
		ssize_t n;

		if (buf_used(&s->to_client) > 0 || s->upstream_eof)
			break;
		n = recv(s->ufd, r->scratch_in, READ_MAX, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			/* A RST from the upstream is passed on as a RST, unless nothing came
			 * back yet and another upstream can take the session. */
			if (!s->bytes_down && errno != ETIMEDOUT)
				session_upstream_failed(s, UPSTREAM_EARLY_CLOSE, CLOSE_RESET_CLIENT,
							LOG_INFO, "upstream read failed: %s",
							strerror(errno));
			else
				session_side_failed(s, CLOSE_RESET_CLIENT, LOG_INFO, "upstream",
						    "read", errno);
			return;
		}
		if (n == 0) {
			/* Closed before any answer while the client still talks: that
			 * upstream (or its way to the target) failed. After the client's FIN
			 * it may be the answer, and is passed on. */
			if (!s->bytes_down && !s->client_eof && s->member >= 0) {
				session_upstream_failed(s, UPSTREAM_EARLY_CLOSE, CLOSE_RESET_CLIENT,
							LOG_INFO, "upstream closed before any answer");
				return;
			}
			s->upstream_eof = true;
			break;
		}
		if (deliver_down(s, r->scratch_in, (size_t)n) < 0)
			return;
	}
	s->last_active = ev_now(r->loop);
	if (s->upstream_eof && buf_used(&s->to_client) == 0) {
		send_fin_client(s);
		if (s->state == S_CLOSED)
			return;
	}
	session_arm(s);
}

/* Writes what waits for the client. 1 drained, 0 pending, -1 closed. */
static int flush_to_client(struct session *s)
{
	while (buf_used(&s->to_client) > 0) {
		ssize_t n = s->cops->write(s->c, buf_head(&s->to_client), buf_used(&s->to_client));
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			session_side_failed(s, CLOSE_RESET_UPSTREAM, LOG_INFO, "client", "write",
					    errno);
			return -1;
		}
		if (n <= 0)
			return 0;
		buf_consume(&s->to_client, (size_t)n);
	}
	return 1;
}

void relay_client_ready(struct session *s, bool readable, bool writable)
{
	if (s->state != S_RELAY)
		return;
	if (writable) {
		int rc = flush_to_client(s);
		if (rc < 0)
			return;
		if (rc > 0) {
			s->last_active = ev_now(s->relay->loop);
			pump_down(s); /* resumes the upstream and sends a pending FIN */
			if (s->state == S_CLOSED)
				return;
		}
	}
	if (readable)
		pump_up(s);
}

void relay_client_failed(struct session *s, int err)
{
	session_side_failed(s, CLOSE_RESET_UPSTREAM, LOG_INFO, "client", "connection", err);
}

/* ---- handshake and connect ------------------------------------------- */

static void session_start_relay(struct session *s)
{
	struct relay *r = s->relay;
	size_t left = buf_used(&s->hs_in);

	s->state = S_RELAY;
	ev_timer_stop(r->loop, &s->timer);
	s->last_active = ev_now(r->loop);
	/* Opened again through another upstream: what the client sent goes once more. */
	if ((s->tried & (s->tried - 1)) && buf_used(&s->replay)) {
		const uint8_t *data = buf_head(&s->replay);
		size_t len = buf_used(&s->replay);

		if (s->proxy->ops->encode) {
			s->proxy->ops->encode(s->pconn, data, len, r->scratch_out, &len);
			data = r->scratch_out;
		}
		if (write_up(s, data, len) < 0)
			return;
	}
	/* A UDP association works once it is set up; nothing else may ever come back. */
	if (s->target.udp_associate)
		session_answered(s);
	if (s->proxy->cfg.idle_timeout > 0) {
		ev_timer_set(&s->timer, s->proxy->cfg.idle_timeout, 0.);
		ev_timer_start(r->loop, &s->timer);
	}
	/* Bytes that followed the handshake reply are stream data. */
	if (left > 0) {
		struct buf rest = s->hs_in;
		memset(&s->hs_in, 0, sizeof(s->hs_in));
		int rc = deliver_down(s, buf_head(&rest), left);
		buf_free(&rest);
		if (rc < 0)
			return;
	} else {
		buf_free(&s->hs_in);
	}
	pump_up(s);
	if (s->state != S_CLOSED)
		pump_down(s);
	if (s->state != S_CLOSED && s->cops->established)
		s->cops->established(s->c);
}

static void handshake_read(struct session *s)
{
	const struct proxy_ops *ops = s->proxy->ops;
	char err[256];
	ssize_t n;
	int rc;

	if (buf_reserve(&s->hs_in, 4096) < 0) {
		session_close(s, CLOSE_RESET_BOTH, LOG_ERROR, "out of memory");
		return;
	}
	n = recv(s->ufd, s->hs_in.data + s->hs_in.len, s->hs_in.cap - s->hs_in.len, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		session_upstream_failed(s, UPSTREAM_FAILED, CLOSE_RESET_CLIENT, LOG_WARN,
					"%s handshake with %s failed: %s", ops->name, "upstream",
					strerror(errno));
		return;
	}
	if (n == 0) {
		session_upstream_failed(s, UPSTREAM_FAILED, CLOSE_RESET_CLIENT, LOG_WARN,
					"%s upstream closed the connection during the handshake",
					ops->name);
		return;
	}
	s->hs_in.len += (size_t)n;
	if (buf_used(&s->hs_in) > HS_MAX) {
		session_upstream_failed(s, UPSTREAM_FAILED, CLOSE_RESET_BOTH, LOG_WARN,
					"%s handshake reply too long", ops->name);
		return;
	}
	rc = ops->handshake(s->proxy->priv, s->pconn, &s->hs_in, &s->to_up, err, sizeof(err));
	if (rc == PROXY_ERROR) {
		/* The proxy refused: its way to the target, or its own trouble. */
		session_upstream_failed(s, UPSTREAM_EARLY_CLOSE, CLOSE_RESET_BOTH, LOG_WARN, "%s",
					err);
		return;
	}
	if (flush_to_up(s) < 0)
		return;
	if (rc == PROXY_OK)
		session_start_relay(s);
	else
		upstream_want(s, true, buf_used(&s->to_up) > 0);
}

static void session_connected(struct session *s)
{
	const struct proxy_ops *ops = s->proxy->ops;
	char err[256];
	int rc;

	rc = ops->start(s->proxy->priv, s->pconn, &s->target, &s->to_up, err, sizeof(err));
	if (rc == PROXY_ERROR) {
		session_close(s, CLOSE_RESET_BOTH, LOG_WARN, "%s", err);
		return;
	}
	if (flush_to_up(s) < 0)
		return;
	if (rc == PROXY_OK) {
		session_start_relay(s);
		return;
	}
	s->state = S_HANDSHAKE;
	upstream_want(s, true, buf_used(&s->to_up) > 0);
}

static void session_connect(struct session *s, const struct sockaddr_storage *addr);
static void session_resolved(void *arg, int err, const struct sockaddr_storage *addr);

/* The name the upstream address came from (the proxy server's, or a target's for a proxy
 * that dials targets), or NULL for an address given as such. */
static const char *session_upstream_name(const struct session *s)
{
	struct sockaddr_storage ss;
	const char *host = s->proxy->ops->dial_target ? s->target.host : s->proxy->cfg.server;

	return host[0] && net_pton(host, 0, &ss) < 0 ? host : NULL;
}

/* The connect to s->uaddr failed (err) or timed out (err 0): the resolver forgets that
 * address, so the next connection takes the answer's next one or looks the name up again.
 * A failed (not timed out) connect to a name is tried again here with what the resolver
 * says now, CONNECT_TRIES times at most, within the same connect deadline. */
static void session_connect_failed(struct session *s, int err)
{
	struct relay *r = s->relay;
	const char *host = session_upstream_name(s);
	char a[NET_ADDRSTRLEN];
	struct sockaddr_storage next;
	int rc;

	net_ntop(&s->uaddr, a, sizeof(a));
	if (host)
		resolver_forget(r->resolver, host, &s->uaddr);
	if (!err) {
		session_upstream_failed(s, UPSTREAM_FAILED, CLOSE_RESET_BOTH, LOG_WARN,
					"upstream connect to %s timed out after %u s", a,
					s->proxy->cfg.connect_timeout);
		return;
	}
	if (!host || ++s->connect_tries >= CONNECT_TRIES) {
		session_upstream_failed(s, UPSTREAM_FAILED, CLOSE_RESET_CLIENT, LOG_WARN,
					"connect to %s failed: %s", a, strerror(err));
		return;
	}
	log_info("%s: connect to %s (%s) failed: %s; trying again", s->desc, a, host, strerror(err));
	ev_io_stop(r->loop, &s->uio);
	close(s->ufd);
	s->ufd = -1;
	s->state = S_RESOLVING;
	rc = resolver_query(r->resolver, host, net_port(&s->uaddr), &next, session_resolved, s,
			    &s->rreq);
	if (rc < 0)
		session_close(s, CLOSE_RESET_CLIENT, LOG_ERROR, "cannot resolve %s: %s", host,
			      strerror(errno));
	else if (rc == 1)
		session_connect(s, &next);
}

static void upstream_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = container_of(w, struct session, uio);
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	(void)loop;
	switch (s->state) {
	case S_CONNECTING:
		getsockopt(s->ufd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr) {
			session_connect_failed(s, soerr);
			return;
		}
		session_connected(s);
		return;
	case S_HANDSHAKE:
		if ((revents & EV_WRITE) && flush_to_up(s) < 0)
			return;
		if (revents & EV_READ)
			handshake_read(s);
		else
			upstream_want(s, true, buf_used(&s->to_up) > 0);
		return;
	case S_RELAY:
		if (revents & EV_WRITE) {
			int rc = flush_to_up(s);
			if (rc < 0)
				return;
			if (rc > 0) {
				s->last_active = ev_now(s->relay->loop);
				pump_up(s); /* resumes the client and sends a pending FIN */
				if (s->state == S_CLOSED)
					return;
			}
		}
		if (revents & EV_READ)
			pump_down(s);
		return;
	default:
		return;
	}
}

/* Probes every min(10, idle) s, 3 of them: a vanished peer is found within
 * idle + 3 * min(10, idle) seconds of silence. */
#define KEEPALIVE_INTVL_MAX 10
#define KEEPALIVE_PROBES 3

/* The keepalive a session's proxy config asks for; false when it is off. */
static bool session_keepalive(const struct session *s, struct keepalive *ka)
{
	unsigned idle = s->proxy->cfg.keepalive;

	ka->idle = idle;
	ka->intvl = idle < KEEPALIVE_INTVL_MAX ? idle : KEEPALIVE_INTVL_MAX;
	ka->cnt = KEEPALIVE_PROBES;
	return idle > 0;
}

static void session_connect(struct session *s, const struct sockaddr_storage *addr)
{
	struct keepalive ka;
	struct relay *r = s->relay;
	int fd;

	s->uaddr = *addr;
	fd = net_socket(addr->ss_family, SOCK_STREAM);
	if (fd < 0) {
		session_close(s, CLOSE_RESET_CLIENT, LOG_ERROR, "upstream socket: %s", strerror(errno));
		return;
	}
	s->ufd = fd;
	ev_io_init(&s->uio, upstream_io_cb, fd, 0);
	if (net_set_mark(fd, r->fwmark) < 0) {
		session_close(s, CLOSE_RESET_CLIENT, LOG_ERROR, "SO_MARK 0x%x: %s (needs CAP_NET_ADMIN)",
			      r->fwmark, strerror(errno));
		return;
	}
	/* Not fatal: without it a vanished upstream lingers until the client gives up. */
	if (session_keepalive(s, &ka) && net_set_keepalive(fd, ka.idle, ka.intvl, ka.cnt) < 0)
		log_warn("%s: upstream keepalive: %s", s->desc, strerror(errno));
	if (connect(fd, (const struct sockaddr *)addr, net_sockaddr_len(addr)) < 0 &&
	    errno != EINPROGRESS) {
		session_connect_failed(s, errno);
		return;
	}
	s->state = S_CONNECTING;
	upstream_want(s, false, true);
}

static void session_resolved(void *arg, int err, const struct sockaddr_storage *addr)
{
	struct session *s = arg;

	s->rreq = NULL;
	if (err) {
		if (s->proxy->ops->dial_target)
			session_close(s, CLOSE_RESET_CLIENT, LOG_WARN, "cannot resolve upstream: %s",
				      gai_strerror(err));
		else
			session_upstream_failed(s, UPSTREAM_FAILED, CLOSE_RESET_CLIENT, LOG_WARN,
						"cannot resolve upstream: %s", gai_strerror(err));
		return;
	}
	session_connect(s, addr);
}

static void session_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = container_of(w, struct session, timer);
	ev_tstamp left;

	(void)revents;
	if (s->state == S_CONNECTING) {
		session_connect_failed(s, 0);
		return;
	}
	if (s->state != S_RELAY) {
		session_upstream_failed(s, UPSTREAM_FAILED, CLOSE_RESET_BOTH, LOG_WARN,
					"upstream connect timed out after %u s",
					s->proxy->cfg.connect_timeout);
		return;
	}
	left = s->last_active + s->proxy->cfg.idle_timeout - ev_now(loop);
	if (left <= 0) {
		session_close(s, CLOSE_RESET_BOTH, LOG_INFO, "idle for %u s",
			      s->proxy->cfg.idle_timeout);
		return;
	}
	ev_timer_set(w, left, 0.);
	ev_timer_start(loop, w);
}

/* Resolves the upstream (the proxy server, or the target for a proxy that dials it) and
 * connects; what fails ends (or fails over) the session. */
static void session_dial(struct session *s)
{
	struct relay *r = s->relay;
	struct sockaddr_storage addr;
	const char *host;
	uint16_t port;
	int rc;

	if (s->proxy->ops->dial_target) {
		if (!s->target.host[0]) {
			session_connect(s, &s->target.addr);
			return;
		}
		host = s->target.host;
		port = s->target.port;
	} else {
		host = s->proxy->cfg.server;
		port = s->proxy->cfg.port;
	}
	rc = resolver_query(r->resolver, host, port, &addr, session_resolved, s, &s->rreq);
	if (rc < 0)
		session_close(s, CLOSE_RESET_CLIENT, LOG_ERROR, "cannot resolve %s: %s", host,
			      strerror(errno));
	else if (rc == 1)
		session_connect(s, &addr);
}

/* The session through p: member of g (>= 0), or a given instance (member -1, g NULL). */
static struct session *session_open(struct relay *r, struct upstreams *g, int member,
				    struct proxy_inst *p, const struct client_ops *ops, void *c,
				    const struct target *t, const char *desc)
{
	struct keepalive ka;
	struct target named;
	struct session *s;
	int rc;

	/* A fake-IP destination is opened at the proxy by the name it stands for. */
	if (r->namer && !t->direct && !t->udp_associate && !t->host[0]) {
		named = *t;
		rc = r->namer(r->namer_ctx, &t->addr, named.host, sizeof(named.host));
		if (rc > 0) {
			log_info("%s: refused: a fake-IP address that no name has now", desc);
			ops->close(c, true);
			return NULL;
		}
		if (rc == 0)
			t = &named;
	}

	s = calloc(1, sizeof(*s));
	if (s && p->ops->conn_size && !(s->pconn = calloc(1, p->ops->conn_size))) {
		free(s);
		s = NULL;
	}
	if (!s) {
		log_error("%s: out of memory", desc);
		ops->close(c, true);
		return NULL;
	}
	s->relay = r;
	s->proxy = p;
	s->proxy->refs++;
	s->member = member;
	if (member >= 0) {
		s->group = g;
		upstreams_ref(g);
		s->tried = 1u << member;
	}
	/* Only with somewhere else to go is what the client sends kept. */
	s->replay_off = member < 0 || upstreams_count(g) < 2;
	s->target = *t;
	snprintf(s->desc, sizeof(s->desc), "%s", desc);
	s->cops = ops;
	s->c = c;
	s->ufd = -1;
	s->state = S_RESOLVING;
	s->started = s->last_active = ev_now(r->loop);
	ev_timer_init(&s->timer, session_timer_cb, p->cfg.connect_timeout, 0.);
	ev_timer_start(r->loop, &s->timer);
	LIST_INSERT_HEAD(&r->live, s, link);
	r->stats.sessions_total++;
	r->stats.sessions_active++;
	if (ops->keepalive && session_keepalive(s, &ka) && ops->keepalive(c, &ka) < 0)
		log_warn("%s: client keepalive: %s", s->desc, strerror(errno));
	session_dial(s);
	return s->state == S_CLOSED ? NULL : s;
}

struct session *relay_open(struct relay *r, const struct client_ops *ops, void *c,
			   const struct target *t, const char *desc)
{
	int i;

	if (t->direct)
		return session_open(r, NULL, -1, r->direct, ops, c, t, desc);
	i = upstreams_pick(r->group, 0, ev_now(r->loop));
	if (i < 0) {
		/* None is up: refused at once (the group said so once, when it happened). */
		log_debug("%s: refused: no upstream is up", desc);
		r->stats.connect_failures++;
		ops->close(c, true);
		return NULL;
	}
	return session_open(r, r->group, i, upstreams_proxy(r->group, i), ops, c, t, desc);
}

struct session *relay_open_via(struct relay *r, struct proxy_inst *p, const struct client_ops *ops,
			       void *c, const struct target *t, const char *desc)
{
	return session_open(r, NULL, -1, p, ops, c, t, desc);
}

/* ---- the relay context ------------------------------------------------ */

struct relay *relay_new(struct ev_loop *loop, struct resolver *res, const struct config *cfg,
			char *err, size_t errlen)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "relay: out of memory");
		return NULL;
	}
	r->loop = loop;
	r->resolver = res;
	r->scratch_in = malloc(READ_MAX);
	r->scratch_out = malloc(SCRATCH_OUT);
	if (!r->scratch_in || !r->scratch_out) {
		snprintf(err, errlen, "relay: out of memory");
		goto fail;
	}
	if (relay_reconfigure(r, cfg, err, errlen) < 0)
		goto fail;
	ev_check_init(&r->reaper, relay_reap);
	ev_check_start(loop, &r->reaper);
	ev_unref(loop);
	return r;
fail:
	upstreams_put(r->group);
	proxy_inst_put(r->direct);
	free(r->scratch_in);
	free(r->scratch_out);
	free(r);
	return NULL;
}

int relay_reconfigure(struct relay *r, const struct config *cfg, char *err, size_t errlen)
{
	struct upstreams *g = upstreams_new(cfg, r->group, ev_now(r->loop), err, errlen);
	struct config_proxy direct = cfg->proxy;
	struct proxy_inst *d;

	if (!g)
		return -1;
	/* The direct instance takes the timeouts of the (first) upstream. */
	direct.type = PROXY_TYPE_DIRECT;
	d = proxy_inst_new(&direct, err, errlen);
	if (!d) {
		upstreams_put(g);
		return -1;
	}
	upcheck_free(r->check);
	upstreams_put(r->group);
	r->group = g;
	proxy_inst_put(r->direct);
	r->direct = d;
	r->fwmark = cfg->fwmark;
	r->check = upcheck_new(r->loop, r, g, cfg);
	return 0;
}

bool relay_checks_ready(const struct relay *r)
{
	return upcheck_first_round_done(r->check);
}

void relay_upstream_checked(struct relay *r, struct upstreams *g, int i, bool ok, double latency,
			    const char *why)
{
	if (g != r->group)
		return; /* a check of a group a reload replaced */
	if (upstreams_checked(g, i, ok, latency, why, ev_now(r->loop)))
		member_down(r, g, i);
}

void relay_free(struct relay *r)
{
	struct session *s;

	if (!r)
		return;
	upcheck_free(r->check); /* its sessions first: they report to the group */
	r->check = NULL;
	while ((s = LIST_FIRST(&r->live)))
		session_close(s, CLOSE_CLEAN, LOG_DEBUG, "shutting down");
	while ((s = LIST_FIRST(&r->dead))) {
		LIST_REMOVE(s, link);
		free(s);
	}
	ev_ref(r->loop);
	ev_check_stop(r->loop, &r->reaper);
	upstreams_put(r->group);
	proxy_inst_put(r->direct);
	free(r->scratch_in);
	free(r->scratch_out);
	free(r);
}

void relay_set_namer(struct relay *r, relay_namer_fn fn, void *ctx)
{
	r->namer = fn;
	r->namer_ctx = ctx;
}

int relay_fake_name(const struct relay *r, const struct sockaddr_storage *dst, char *host,
		    size_t hostlen)
{
	return r->namer ? r->namer(r->namer_ctx, dst, host, hostlen) : -1;
}

void relay_session_close(struct session *s)
{
	session_close(s, CLOSE_CLEAN, LOG_DEBUG, "closed by its owner");
}

int relay_session_udp_relay_addr(const struct session *s, struct sockaddr_storage *out)
{
	uint16_t port;

	if (s->state != S_RELAY || !s->proxy->ops->udp_relay_addr ||
	    s->proxy->ops->udp_relay_addr(s->pconn, out) < 0)
		return -1;
	/* An unspecified relay address means "the address you are talking to". */
	if ((out->ss_family == AF_INET && ((struct sockaddr_in *)out)->sin_addr.s_addr == 0) ||
	    (out->ss_family == AF_INET6 &&
	     IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)out)->sin6_addr))) {
		port = net_port(out);
		*out = s->uaddr;
		if (out->ss_family == AF_INET6)
			((struct sockaddr_in6 *)out)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)out)->sin_port = htons(port);
	}
	return 0;
}

struct proxy_inst *relay_proxy_get(struct relay *r)
{
	struct proxy_inst *p;
	int i = upstreams_pick(r->group, 0, ev_now(r->loop));

	if (i < 0)
		return NULL;
	p = upstreams_proxy(r->group, i);
	p->refs++;
	return p;
}

struct resolver *relay_resolver(const struct relay *r)
{
	return r->resolver;
}

uint32_t relay_fwmark(const struct relay *r)
{
	return r->fwmark;
}

const struct relay_stats *relay_stats(const struct relay *r)
{
	return &r->stats;
}
