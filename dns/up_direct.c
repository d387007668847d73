/* up_direct.c -- a domestic resolver, asked directly: each query from its own marked UDP
 * socket (a fresh random source port and ID per query), sent again every second up to
 * three times, and asked again over TCP when the answer comes back truncated. Answers
 * that do not match the query (ID, question) are ignored, not taken. */
#include <errno.h>
#include <stdarg.h>
#include <ev.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/config.h"
#include "base/net.h"
#include "base/resolve.h"
#include "base/util.h"
#include "dns/upstream.h"

#define UDP_SENDS 3
#define UDP_RETRY 1.0 /* seconds between sends */
#define TCP_WAIT 4.0 /* seconds for the TCP retry */
#define QUERY_MAX 512 /* one question and an OPT always fit */

struct up_direct {
	struct dns_up base;
	struct ev_loop *loop;
	struct resolver *res;
	struct host_port hp;
	uint32_t fwmark;
};

struct dq {
	struct up_direct *u;
	dns_up_cb cb;
	void *arg;
	struct dns_question q;
	uint16_t id;
	struct resolve_req *rreq;
	struct sockaddr_storage addr;
	int fd;
	bool tcp;
	int sends;
	ev_io io;
	ev_timer timer;
	uint8_t query[2 + QUERY_MAX]; /* TCP length prefix, then the message */
	size_t qlen, tcp_sent;
	uint8_t *in; /* TCP: the framed answer so far */
	size_t in_len, in_cap;
};

static void dq_free(struct dq *d)
{
	ev_io_stop(d->u->loop, &d->io);
	ev_timer_stop(d->u->loop, &d->timer);
	resolver_cancel(d->rreq);
	if (d->fd >= 0)
		close(d->fd);
	free(d->in);
	free(d);
}

/* Ends the query: calls back once, frees it. */
static void dq_done(struct dq *d, int ok, const struct dns_msg *ans, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void dq_done(struct dq *d, int ok, const struct dns_msg *ans, const char *fmt, ...)
{
	char why[256] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	d->cb(d->arg, ok, ans, why);
	dq_free(d);
}

static int open_socket(struct dq *d, int type)
{
	if (d->fd >= 0) {
		ev_io_stop(d->u->loop, &d->io);
		close(d->fd);
	}
	d->fd = net_socket(d->addr.ss_family, type);
	if (d->fd < 0)
		return -1;
	if (net_set_mark(d->fd, d->u->fwmark) < 0)
		return -1;
	if (connect(d->fd, (const struct sockaddr *)&d->addr, net_sockaddr_len(&d->addr)) < 0 &&
	    errno != EINPROGRESS)
		return -1;
	return 0;
}

static void udp_send(struct dq *d)
{
	if (send(d->fd, d->query + 2, d->qlen, 0) < 0 && errno != EAGAIN) {
		dq_done(d, -1, NULL, "%s: send: %s", d->u->base.desc, strerror(errno));
		return;
	}
	d->sends++;
	ev_timer_set(&d->timer, UDP_RETRY, 0.);
	ev_timer_start(d->u->loop, &d->timer);
}

static void start_tcp(struct dq *d)
{
	if (open_socket(d, SOCK_STREAM) < 0) {
		dq_done(d, -1, NULL, "%s: tcp: %s", d->u->base.desc, strerror(errno));
		return;
	}
	d->tcp = true;
	d->tcp_sent = 0;
	ev_io_set(&d->io, d->fd, EV_WRITE);
	ev_io_start(d->u->loop, &d->io);
	ev_timer_stop(d->u->loop, &d->timer);
	ev_timer_set(&d->timer, TCP_WAIT, 0.);
	ev_timer_start(d->u->loop, &d->timer);
}

static void udp_read(struct dq *d)
{
	uint8_t buf[DNS_MSG_MAX];
	struct dns_msg m;

	for (;;) {
		ssize_t n = recv(d->fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			dq_done(d, -1, NULL, "%s: %s", d->u->base.desc, strerror(errno));
			return;
		}
		if (dns_up_match(buf, (size_t)n, d->id, &d->q, &m) < 0)
			continue; /* not our answer: a late or forged one */
		if (m.flags & DNS_F_TC) {
			start_tcp(d);
			return;
		}
		dq_done(d, 0, &m, NULL);
		return;
	}
}

static void tcp_io(struct dq *d, int revents)
{
	if (revents & EV_WRITE) {
		size_t total = d->qlen + 2;
		ssize_t n = send(d->fd, d->query + d->tcp_sent, total - d->tcp_sent, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOTCONN) {
			dq_done(d, -1, NULL, "%s: tcp: %s", d->u->base.desc, strerror(errno));
			return;
		}
		if (n > 0)
			d->tcp_sent += (size_t)n;
		if (d->tcp_sent == total) {
			ev_io_stop(d->u->loop, &d->io);
			ev_io_set(&d->io, d->fd, EV_READ);
			ev_io_start(d->u->loop, &d->io);
		}
		return;
	}
	for (;;) {
		const uint8_t *msg;
		struct dns_msg m;
		size_t mlen;
		ssize_t n;

		if (d->in_cap - d->in_len < 4096) {
			size_t cap = d->in_cap ? d->in_cap * 2 : 8192;
			uint8_t *p;
			if (cap > DNS_MSG_MAX + 2 + 4096)
				cap = DNS_MSG_MAX + 2 + 4096;
			p = realloc(d->in, cap);
			if (!p) {
				dq_done(d, -1, NULL, "%s: out of memory", d->u->base.desc);
				return;
			}
			d->in = p;
			d->in_cap = cap;
		}
		n = recv(d->fd, d->in + d->in_len, d->in_cap - d->in_len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			dq_done(d, -1, NULL, "%s: tcp: %s", d->u->base.desc,
				n == 0 ? "closed before answering" : strerror(errno));
			return;
		}
		d->in_len += (size_t)n;
		switch (dns_tcp_frame(d->in, d->in_len, &msg, &mlen)) {
		case DNS_NEED_MORE:
			if (d->in_len >= DNS_MSG_MAX + 2) {
				dq_done(d, -1, NULL, "%s: tcp: frame too long", d->u->base.desc);
				return;
			}
			continue;
		case DNS_OK:
			if (dns_up_match(msg, mlen, d->id, &d->q, &m) < 0) {
				dq_done(d, -1, NULL, "%s: tcp: answer does not match the query",
					d->u->base.desc);
				return;
			}
			dq_done(d, 0, &m, NULL);
			return;
		default:
			dq_done(d, -1, NULL, "%s: tcp: bad frame", d->u->base.desc);
			return;
		}
	}
}

static void dq_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dq *d = container_of(w, struct dq, io);

	(void)loop;
	if (d->tcp)
		tcp_io(d, revents);
	else
		udp_read(d);
}

static void dq_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dq *d = container_of(w, struct dq, timer);

	(void)loop;
	(void)revents;
	if (d->tcp) {
		dq_done(d, -1, NULL, "%s: no TCP answer in %.0f s", d->u->base.desc, TCP_WAIT);
		return;
	}
	if (d->sends >= UDP_SENDS) {
		dq_done(d, -1, NULL, "%s: no answer to %d sends", d->u->base.desc, d->sends);
		return;
	}
	udp_send(d);
}

static void dq_send_first(struct dq *d)
{
	if (open_socket(d, SOCK_DGRAM) < 0) {
		dq_done(d, -1, NULL, "%s: %s", d->u->base.desc, strerror(errno));
		return;
	}
	ev_io_set(&d->io, d->fd, EV_READ);
	ev_io_start(d->u->loop, &d->io);
	udp_send(d);
}

static void dq_resolved(void *arg, int err, const struct sockaddr_storage *addr)
{
	struct dq *d = arg;

	d->rreq = NULL;
	if (err) {
		dq_done(d, -1, NULL, "%s: cannot resolve: %s", d->u->base.desc, gai_strerror(err));
		return;
	}
	d->addr = *addr;
	dq_send_first(d);
}

/* Deferred start, so a failure never calls back from inside dns_up_query. */
static void dq_start_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dq *d = container_of(w, struct dq, timer);
	int rc;

	(void)loop;
	(void)revents;
	rc = resolver_query_system(d->u->res, d->u->hp.host, d->u->hp.port, &d->addr, dq_resolved, d,
			    &d->rreq);
	ev_set_cb(&d->timer, dq_timer_cb);
	if (rc < 0)
		dq_done(d, -1, NULL, "%s: cannot resolve: %s", d->u->base.desc, strerror(errno));
	else if (rc == 1)
		dq_send_first(d);
}

static struct dns_upq *direct_query(struct dns_up *base, const struct dns_question *q,
				    dns_up_cb cb, void *arg)
{
	struct up_direct *u = container_of(base, struct up_direct, base);
	struct dq *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->u = u;
	d->cb = cb;
	d->arg = arg;
	d->q = *q;
	d->fd = -1;
	d->id = dns_up_random_id();
	if (dns_up_write_query(d->id, q, d->query + 2, QUERY_MAX, &d->qlen) < 0) {
		free(d);
		return NULL;
	}
	d->query[0] = (uint8_t)(d->qlen >> 8);
	d->query[1] = (uint8_t)d->qlen;
	ev_io_init(&d->io, dq_io_cb, -1, 0);
	ev_timer_init(&d->timer, dq_start_cb, 0., 0.);
	ev_timer_start(u->loop, &d->timer);
	return (struct dns_upq *)d;
}

static void direct_cancel(struct dns_upq *q)
{
	if (q)
		dq_free((struct dq *)q);
}

static void direct_free(struct dns_up *base)
{
	free(container_of(base, struct up_direct, base));
}

static const struct dns_up_ops direct_ops = {
	.name = "domestic",
	.query = direct_query,
	.cancel = direct_cancel,
	.free = direct_free,
};

struct dns_up *dns_up_direct_new(struct ev_loop *loop, struct resolver *res,
				 const struct host_port *hp, uint32_t fwmark)
{
	struct up_direct *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->base.ops = &direct_ops;
	u->loop = loop;
	u->res = res;
	u->hp = *hp;
	u->fwmark = fwmark;
	dns_up_describe(&u->base, hp);
	return &u->base;
}
