/* dial.c -- the upstream side of a session until bytes flow: resolving the upstream
 * (the proxy server, or the target for a proxy that dials it), connecting a marked
 * non-blocking socket (the next address of a name when one fails), the proxy's
 * start/handshake, the connect deadline and keepalive; and, with several upstreams, what
 * a session tells the group and opening it again through the next member when its
 * upstream fails before any byte came back. */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/net.h"
#include "base/resolve.h"
#include "base/util.h"
#include "relay/internal.h"

static void session_connect(struct session *s, const struct sockaddr_storage *addr);
static void session_resolved(void *arg, int err, const struct sockaddr_storage *addr);

/* Member i of g is down: the established sessions through it (by name: a reload's group
 * has objects of its own) are reset, so their applications reconnect through another. */
void member_down(struct relay *r, struct upstreams *g, int i)
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
	/* A group of one has nowhere else to go: its health changes nothing. */
	if (s->member < 0 || upstreams_count(s->group) < 2)
		return;
	if (upstreams_report(s->group, s->member, o, why, s->dial_at, ev_now(s->relay->loop)))
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
	session_uncount_upstream(s);
	proxy_inst_put(s->proxy);
	s->proxy = p;
	p->refs++;
	s->pconn = pconn;
	s->member = next;
	session_count_upstream(s);
	s->tried |= 1u << next;
	buf_free(&s->to_up);
	buf_free(&s->to_client);
	buf_free(&s->hs_in);
	s->upstream_eof = s->up_shut = s->up_finished = false;
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
void session_upstream_failed(struct session *s, enum upstream_outcome o, enum close_how how,
			     enum log_level lvl, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	int next = -1;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* A close after more than could be sent again (a long upload reset at its end) says
	 * nothing about the upstream's health. */
	if (o != UPSTREAM_EARLY_CLOSE || !s->replay_off)
		session_report(s, o, why);
	if (s->member >= 0 && !s->replay_off && !s->bytes_down && !s->client_shut)
		next = upstreams_pick(s->group, s->tried, ev_now(s->relay->loop));
	if (next < 0)
		session_close(s, how, lvl, "%s", why);
	else
		session_retry(s, next, why);
}

/* A byte came back: this upstream works, and the session stays with it. */
void session_answered(struct session *s)
{
	if (s->replay_off)
		return;
	s->replay_off = true;
	buf_free(&s->replay);
	session_report(s, UPSTREAM_OK, "a connection through it was answered");
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
				/* Closed, or opened again through another upstream (now
				 * connecting: its watcher is not this relay's to touch). */
				if (s->state != S_RELAY)
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

/* The keepalive a session's proxy config asks for; false when it is off. */
bool session_keepalive(const struct session *s, struct keepalive *ka)
{
	unsigned idle = s->proxy->cfg.keepalive;

	ka->idle = idle;
	ka->intvl = idle < KEEPALIVE_INTVL_MAX ? idle : KEEPALIVE_INTVL_MAX;
	ka->cnt = KEEPALIVE_PROBES;
	return idle > 0;
}

/* connect() found no free local port toward s->uaddr (EADDRNOTAVAIL). Every upstream
 * connection goes to the same server address and port and snet-tun closes first, so
 * its TIME_WAITs can hold every port of ip_local_port_range. Not the upstream's fault:
 * the session is refused and the upstream keeps its health; the warning, with the fix,
 * comes once per interval with the count, not once per connection. */
#define PORTS_WARN_INTERVAL 10.0
static void ports_exhausted(struct session *s)
{
	struct relay *r = s->relay;
	ev_tstamp now = ev_now(r->loop);
	char a[NET_ADDRSTRLEN];

	net_ntop(&s->uaddr, a, sizeof(a));
	r->stats.connect_addrnotavail++;
	r->ports_unwarned++;
	if (r->ports_warned == 0 || now - r->ports_warned >= PORTS_WARN_INTERVAL) {
		log_warn("no local port free for connections to %s (EADDRNOTAVAIL): %llu "
			 "connection(s) refused since the last warning; set "
			 "net.ipv4.tcp_tw_reuse=1 and widen net.ipv4.ip_local_port_range "
			 "(the package's sysctl.d file does both)",
			 a, (unsigned long long)r->ports_unwarned);
		r->ports_warned = now;
		r->ports_unwarned = 0;
	}
	session_close(s, CLOSE_RESET_CLIENT, LOG_DEBUG, "connect to %s: %s", a,
		      strerror(EADDRNOTAVAIL));
}

static void session_connect(struct session *s, const struct sockaddr_storage *addr)
{
	struct keepalive ka;
	struct relay *r = s->relay;
	int fd;

	s->uaddr = *addr;
	s->dial_at = ev_now(r->loop);
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
		if (errno == EADDRNOTAVAIL) {
			ports_exhausted(s);
			return;
		}
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

void session_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
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
void session_dial(struct session *s)
{
	struct relay *r = s->relay;
	struct sockaddr_storage addr;
	const char *host;
	uint16_t port;
	int rc;

	s->dial_at = ev_now(r->loop); /* session_retry comes here too */
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
