/* listen.c -- the resolver's UDP and TCP sockets (see listen.h). A TCP connection lives
 * while it has queries pending or was active in the last TCP_IDLE seconds; it is freed
 * once closed and no answer is pending for it. */
#include "dns/listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"
#include "base/net.h"
#include "base/util.h"
#include "dns/msg.h"

#define UDP_BATCH 32 /* datagrams per recvmmsg; replies made meanwhile go in one sendmmsg */
#define UDP_SLOT 4096 /* bytes per batched query or reply (a larger reply goes alone) */
#define UDP_ROUNDS 4 /* recvmmsg calls per readiness event */
#define TCP_IDLE 10.0 /* seconds (RFC 7766 §6.2.3 suggests a few seconds) */
#define TCP_MAX_CONNS 512
#define TCP_MAX_PENDING 256 /* queries pending on one connection before we stop reading */
#define TCP_OUT_MAX (1024 * 1024) /* unread answers before we stop reading */

struct tconn {
	struct dns_listen *l;
	LIST_ENTRY(tconn) link; /* l->conns */
	int fd;
	ev_io io;
	ev_timer idle;
	struct dns_client c;
	struct buf in, out;
	unsigned pending; /* queries whose answer has not come back */
	bool closed; /* socket gone; freed when pending reaches 0 */
	bool eof;
	bool busy; /* inside conn_io_cb: a close must not free it yet */
};

struct dns_listen {
	struct ev_loop *loop;
	dns_query_fn query;
	void *query_ctx;
	struct sockaddr_storage addr;
	int ufd, tfd;
	ev_io uio, tio;
	LIST_HEAD(, tconn) conns;
	unsigned n_conns;
	/* One UDP batch: queries in, and the replies given while it is handled. */
	struct mmsghdr in_msg[UDP_BATCH], out_msg[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH], out_iov[UDP_BATCH];
	struct sockaddr_storage in_peer[UDP_BATCH], out_peer[UDP_BATCH];
	uint8_t in_buf[UDP_BATCH][UDP_SLOT], out_buf[UDP_BATCH][UDP_SLOT];
	unsigned n_out;
	bool batching;
	bool restricted; /* only loopback and allow[] clients (dns_listen_restrict) */
	struct cidr *allow;
	size_t n_allow;
};

/* ---- UDP ---------------------------------------------------------------- */

static void udp_flush(struct dns_listen *l)
{
	unsigned done = 0;

	while (done < l->n_out) {
		int n = sendmmsg(l->ufd, l->out_msg + done, l->n_out - done, 0);
		if (n <= 0) {
			log_debug("dns: reply to a UDP client: %s", strerror(errno));
			done++; /* skip the one that failed */
			continue;
		}
		done += (unsigned)n;
	}
	l->n_out = 0;
}

static void udp_reply(void *ctx, const struct dns_client *c, const uint8_t *msg, size_t len)
{
	struct dns_listen *l = ctx;

	if (l->batching && len <= UDP_SLOT && l->n_out < UDP_BATCH) {
		unsigned i = l->n_out++;
		memcpy(l->out_buf[i], msg, len);
		l->out_peer[i] = c->peer;
		l->out_iov[i] = (struct iovec){ l->out_buf[i], len };
		memset(&l->out_msg[i], 0, sizeof(l->out_msg[i]));
		l->out_msg[i].msg_hdr.msg_name = &l->out_peer[i];
		l->out_msg[i].msg_hdr.msg_namelen = net_sockaddr_len(&c->peer);
		l->out_msg[i].msg_hdr.msg_iov = &l->out_iov[i];
		l->out_msg[i].msg_hdr.msg_iovlen = 1;
		return;
	}
	if (sendto(l->ufd, msg, len, 0, (const struct sockaddr *)&c->peer,
		   net_sockaddr_len(&c->peer)) < 0)
		log_debug("dns: reply to a UDP client: %s", strerror(errno));
}

static void udp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_listen *l = container_of(w, struct dns_listen, uio);

	(void)loop;
	(void)revents;
	for (int round = 0; round < UDP_ROUNDS; round++) {
		int n;

		for (unsigned i = 0; i < UDP_BATCH; i++) {
			l->in_iov[i] = (struct iovec){ l->in_buf[i], UDP_SLOT };
			memset(&l->in_msg[i], 0, sizeof(l->in_msg[i]));
			l->in_msg[i].msg_hdr.msg_name = &l->in_peer[i];
			l->in_msg[i].msg_hdr.msg_namelen = sizeof(l->in_peer[i]);
			l->in_msg[i].msg_hdr.msg_iov = &l->in_iov[i];
			l->in_msg[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(l->ufd, l->in_msg, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				log_debug("dns: UDP receive: %s", strerror(errno));
			return;
		}
		l->batching = true;
		for (int i = 0; i < n; i++) {
			struct dns_client c;
			if (l->in_msg[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue; /* a query over 4 KiB by UDP: not one we can answer */
			if (l->restricted &&
			    !net_peer_allowed(&l->in_peer[i], l->allow, l->n_allow))
				continue;
			memset(&c, 0, sizeof(c));
			c.peer = l->in_peer[i];
			c.local = l->addr;
			l->query(l->query_ctx, l->in_buf[i], l->in_msg[i].msg_len, &c, udp_reply, l);
		}
		l->batching = false;
		udp_flush(l);
		if (n < UDP_BATCH)
			return;
	}
}

/* ---- TCP ---------------------------------------------------------------- */

static void conn_free(struct tconn *t)
{
	struct dns_listen *l = t->l;

	LIST_REMOVE(t, link);
	l->n_conns--;
	buf_free(&t->in);
	buf_free(&t->out);
	free(t);
}

/* Closes the socket; the memory goes when no answer is pending any more. */
static void conn_close(struct tconn *t)
{
	if (!t->closed) {
		ev_io_stop(t->l->loop, &t->io);
		ev_timer_stop(t->l->loop, &t->idle);
		close(t->fd);
		t->fd = -1;
		t->closed = true;
	}
	if (t->pending == 0 && !t->busy)
		conn_free(t);
}

static void conn_arm(struct tconn *t)
{
	bool rd = !t->eof && t->pending < TCP_MAX_PENDING && buf_used(&t->out) < TCP_OUT_MAX;
	int ev = (rd ? EV_READ : 0) | (buf_used(&t->out) ? EV_WRITE : 0);

	if (t->closed)
		return;
	if (t->eof && !t->pending && !buf_used(&t->out)) {
		conn_close(t);
		return;
	}
	if (ev_is_active(&t->io) && (t->io.events & (EV_READ | EV_WRITE)) == ev)
		return;
	ev_io_stop(t->l->loop, &t->io);
	ev_io_set(&t->io, t->fd, ev);
	if (ev)
		ev_io_start(t->l->loop, &t->io);
}

static int conn_flush(struct tconn *t)
{
	while (buf_used(&t->out)) {
		ssize_t n = send(t->fd, buf_head(&t->out), buf_used(&t->out), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		buf_consume(&t->out, (size_t)n);
	}
	return 0;
}

static void tcp_reply(void *ctx, const struct dns_client *c, const uint8_t *msg, size_t len)
{
	struct tconn *t = ctx;
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	(void)c;
	t->pending--;
	if (t->closed) {
		if (t->pending == 0 && !t->busy)
			conn_free(t);
		return;
	}
	if (buf_append(&t->out, hdr, 2) < 0 || buf_append(&t->out, msg, len) < 0 ||
	    conn_flush(t) < 0) {
		conn_close(t);
		return;
	}
	ev_timer_again(t->l->loop, &t->idle);
	conn_arm(t);
}

/* Answers every whole query in t->in. -1 when the connection was closed. */
static int conn_queries(struct tconn *t)
{
	const uint8_t *msg;
	size_t mlen;
	int rc = DNS_NEED_MORE;

	while (!t->closed && t->pending < TCP_MAX_PENDING &&
	       (rc = dns_tcp_frame(buf_head(&t->in), buf_used(&t->in), &msg, &mlen)) == DNS_OK) {
		t->pending++;
		if (t->l->query(t->l->query_ctx, msg, mlen, &t->c, tcp_reply, t) == 0)
			t->pending--;
		buf_consume(&t->in, mlen + 2);
	}
	if (t->closed)
		return -1;
	if (rc == DNS_ERROR) {
		conn_close(t);
		return -1;
	}
	return 0;
}

static void conn_io(struct tconn *t, int revents)
{
	if ((revents & EV_WRITE) && conn_flush(t) < 0) {
		conn_close(t);
		return;
	}
	if (revents & EV_READ) {
		ssize_t n;

		if (buf_reserve(&t->in, 4096) < 0) {
			conn_close(t);
			return;
		}
		n = recv(t->fd, t->in.data + t->in.len, t->in.cap - t->in.len, 0);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(t);
			return;
		}
		if (n == 0)
			t->eof = true;
		if (n > 0) {
			t->in.len += (size_t)n;
			ev_timer_again(t->l->loop, &t->idle);
			if (conn_queries(t) < 0)
				return;
		}
	} else if (buf_used(&t->in) && conn_queries(t) < 0) {
		return; /* queries held back while too many were pending */
	}
	conn_arm(t);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tconn *t = container_of(w, struct tconn, io);

	(void)loop;
	t->busy = true;
	conn_io(t, revents);
	t->busy = false;
	if (t->closed && t->pending == 0)
		conn_free(t);
}

static void conn_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tconn *t = container_of(w, struct tconn, idle);

	(void)loop;
	(void)revents;
	if (t->pending) {
		ev_timer_again(loop, w);
		return;
	}
	conn_close(t);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_listen *l = container_of(w, struct dns_listen, tio);

	(void)revents;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage peer;
		socklen_t alen = sizeof(peer);
		struct tconn *t;
		int fd = accept4(l->tfd, (struct sockaddr *)&peer, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("dns: accept: %s", strerror(errno));
			return;
		}
		if (l->restricted && !net_peer_allowed(&peer, l->allow, l->n_allow)) {
			char a[NET_ADDRSTRLEN];
			log_debug("dns: refusing TCP client %s: outside gateway.lan",
				  net_ntop(&peer, a, sizeof(a)));
			net_close_reset(fd);
			continue;
		}
		if (l->n_conns >= TCP_MAX_CONNS || !(t = calloc(1, sizeof(*t)))) {
			log_warn("dns: refusing a TCP client (%u connections open)", l->n_conns);
			net_close_reset(fd);
			continue;
		}
		t->l = l;
		t->fd = fd;
		t->c.peer = peer;
		t->c.local = l->addr;
		t->c.tcp = true;
		ev_io_init(&t->io, conn_io_cb, fd, EV_READ);
		ev_io_start(loop, &t->io);
		ev_init(&t->idle, conn_idle_cb);
		t->idle.repeat = TCP_IDLE;
		ev_timer_again(loop, &t->idle);
		LIST_INSERT_HEAD(&l->conns, t, link);
		l->n_conns++;
	}
}

/* ---- the listener -------------------------------------------------------- */

int dns_listen_restrict(struct dns_listen *l, const struct cidr *v, size_t n)
{
	struct cidr *copy = NULL;

	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return -1;
		memcpy(copy, v, n * sizeof(*copy));
	}
	free(l->allow);
	l->allow = copy;
	l->n_allow = n;
	l->restricted = true;
	return 0;
}

struct dns_listen *dns_listen_new(struct ev_loop *loop, dns_query_fn query, void *query_ctx,
				  const struct sockaddr_storage *addr, bool shared, char *err,
				  size_t errlen)
{
	struct dns_listen *l = calloc(1, sizeof(*l));
	char a[NET_ADDRSTRLEN];
	int one = 1;

	if (!l) {
		snprintf(err, errlen, "dns: out of memory");
		return NULL;
	}
	LIST_INIT(&l->conns);
	l->loop = loop;
	l->query = query;
	l->query_ctx = query_ctx;
	l->addr = *addr;
	l->tfd = -1;
	l->ufd = net_socket(addr->ss_family, SOCK_DGRAM);
	if (l->ufd < 0)
		goto fail;
	setsockopt(l->ufd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		setsockopt(l->ufd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l->ufd, (const struct sockaddr *)addr, net_sockaddr_len(addr)) < 0)
		goto fail;
	l->tfd = net_listen_tcp_shared(addr, 128, shared);
	if (l->tfd < 0)
		goto fail;
	ev_io_init(&l->uio, udp_cb, l->ufd, EV_READ);
	ev_io_start(loop, &l->uio);
	ev_io_init(&l->tio, accept_cb, l->tfd, EV_READ);
	ev_io_start(loop, &l->tio);
	return l;
fail:
	snprintf(err, errlen, "dns: cannot listen on %s: %s", net_ntop(addr, a, sizeof(a)),
		 strerror(errno));
	if (l->ufd >= 0)
		close(l->ufd);
	free(l);
	return NULL;
}

void dns_listen_free(struct dns_listen *l)
{
	if (!l)
		return;
	/* Pending answers are dropped by the server, so every connection goes now. */
	while (!LIST_EMPTY(&l->conns)) {
		struct tconn *t = LIST_FIRST(&l->conns);
		t->pending = 0;
		conn_close(t);
	}
	ev_io_stop(l->loop, &l->uio);
	ev_io_stop(l->loop, &l->tio);
	close(l->ufd);
	close(l->tfd);
	free(l->allow);
	free(l);
}
