/* up_tunnel.c -- a foreign resolver, asked over TCP through the proxy. The connection is
 * a relay session (core/relay.c) whose client side is this file: queries are the bytes
 * the relay reads from us, answers the bytes it writes to us. One connection carries
 * every query (pipelined, RFC 7766), each with its own ID; it is opened on the first
 * query, closed here after TUNNEL_IDLE seconds with no query (the relay keeps idle
 * sessions open), and opened again when needed. Queries sent on a connection that
 * ended before answering are sent once more on the next one. */
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"
#include "base/net.h"
#include "relay/relay.h"
#include "base/util.h"
#include "dns/upstream.h"

#define TUNNEL_MAX_QUERIES 4096 /* outstanding on one tunnel */
#define TUNNEL_TRIES 2 /* connections a query is sent on */
#define QUERY_MAX 512
/* Seconds without a query or an answer before the connection is closed: below common
 * proxy and resolver idle timeouts (ss-server 60 s, unbound 30 s... so we close first
 * rather than race their close with a query), and a long-silent connection through a
 * proxy is the likeliest to have died unnoticed, costing a query its timeout. */
#define TUNNEL_IDLE 25.

struct tq {
	struct up_tunnel *t;
	struct tq *prev, *next; /* t->queries */
	dns_up_cb cb;
	void *arg;
	struct dns_question q;
	uint16_t id;
	int tries; /* connections it was written to */
	bool sent; /* written to the current connection */
};

struct up_tunnel {
	struct dns_up base;
	struct ev_loop *loop;
	struct relay *relay;
	struct target target;
	struct session *s; /* NULL: no connection */
	struct tq *queries; /* outstanding */
	size_t n_queries;
	struct buf out; /* framed queries the relay has not read yet */
	struct buf in; /* answer bytes, up to a whole frame */
	bool want_rd; /* the relay waits to be told we have bytes */
	bool eof; /* the resolver closed its side: give the relay EOF */
	bool freeing;
	/* Deferred relay_client_ready / reconnect: a 0 s timer, which wakes the loop from
	 * any callback (a prepare watcher started from a prepare callback would wait for
	 * the next event). */
	ev_timer kick;
	ev_timer idle; /* TUNNEL_IDLE, restarted by every query and answer */
};

static void tq_unlink(struct tq *q)
{
	struct up_tunnel *t = q->t;

	if (q->prev)
		q->prev->next = q->next;
	else
		t->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	t->n_queries--;
}

static void tq_finish(struct tq *q, int ok, const struct dns_msg *ans, const char *why)
{
	tq_unlink(q);
	q->cb(q->arg, ok, ans, why);
	free(q);
}

static void kick(struct up_tunnel *t)
{
	if (!ev_is_active(&t->kick))
		ev_timer_start(t->loop, &t->kick);
}

static int write_query(struct up_tunnel *t, struct tq *q)
{
	uint8_t msg[2 + QUERY_MAX];
	size_t len;

	if (dns_up_write_query(q->id, &q->q, msg + 2, QUERY_MAX, &len) < 0)
		return -1;
	msg[0] = (uint8_t)(len >> 8);
	msg[1] = (uint8_t)len;
	if (buf_append(&t->out, msg, len + 2) < 0)
		return -1;
	q->sent = true;
	q->tries++;
	return 0;
}

/* ---- the relay's view of us (client_ops) -------------------------------- */

static ssize_t t_read(void *c, void *p, size_t cap)
{
	struct up_tunnel *t = c;
	size_t n = buf_used(&t->out);

	if (n == 0) {
		if (t->eof)
			return 0;
		errno = EAGAIN;
		return -1;
	}
	if (n > cap)
		n = cap;
	memcpy(p, buf_head(&t->out), n);
	buf_consume(&t->out, n);
	return (ssize_t)n;
}

static struct tq *find(struct up_tunnel *t, uint16_t id)
{
	for (struct tq *q = t->queries; q; q = q->next)
		if (q->id == id && q->sent)
			return q;
	return NULL;
}

static ssize_t t_write(void *c, const void *p, size_t len)
{
	struct up_tunnel *t = c;
	const uint8_t *msg;
	size_t mlen;
	int rc;

	if (buf_append(&t->in, p, len) < 0) {
		errno = ENOMEM;
		return -1;
	}
	while ((rc = dns_tcp_frame(buf_head(&t->in), buf_used(&t->in), &msg, &mlen)) == DNS_OK) {
		uint16_t id = (uint16_t)(msg[0] << 8 | msg[1]);
		struct tq *q = find(t, id);
		struct dns_msg m;

		/* An answer to a cancelled query, or garbage with a fitting frame: dropped. */
		if (q && dns_up_match(msg, mlen, id, &q->q, &m) == 0) {
			ev_timer_again(t->loop, &t->idle);
			tq_finish(q, 0, &m, NULL);
		}
		buf_consume(&t->in, mlen + 2);
	}
	if (rc == DNS_ERROR) {
		log_warn("%s: bad frame from the resolver; closing the connection", t->base.desc);
		errno = EPROTO;
		return -1;
	}
	return (ssize_t)len;
}

static void t_want(void *c, bool rd, bool wr)
{
	struct up_tunnel *t = c;

	(void)wr;
	t->want_rd = rd;
	if (rd && (buf_used(&t->out) || t->eof))
		kick(t);
}

static void t_shutdown_write(void *c)
{
	struct up_tunnel *t = c;

	/* The resolver closed: finish our side too, the rest is sent again elsewhere. */
	t->eof = true;
	kick(t);
}

static void t_close(void *c, bool reset)
{
	struct up_tunnel *t = c;
	struct tq *q, *next, *failed = NULL;

	(void)reset;
	t->s = NULL;
	t->eof = false;
	t->want_rd = false;
	ev_timer_stop(t->loop, &t->idle);
	buf_free(&t->out);
	buf_free(&t->in);
	if (t->freeing)
		return;
	/* What was sent and not answered goes again on the next connection, or fails.
	 * The callbacks run after the walk: they may start or cancel queries. */
	for (q = t->queries; q; q = next) {
		next = q->next;
		if (q->sent && q->tries >= TUNNEL_TRIES) {
			tq_unlink(q);
			q->next = failed;
			failed = q;
			continue;
		}
		q->sent = false;
	}
	if (t->queries)
		kick(t);
	while ((q = failed)) {
		failed = q->next;
		q->cb(q->arg, -1, NULL, "the connection through the proxy ended");
		free(q);
	}
}

static const struct client_ops tunnel_cops = {
	.read = t_read,
	.write = t_write,
	.want = t_want,
	.shutdown_write = t_shutdown_write,
	.close = t_close,
};

/* ---- connection management --------------------------------------------- */

static void t_connect(struct up_tunnel *t)
{
	char desc[DNS_UP_DESC_MAX + 16];

	snprintf(desc, sizeof(desc), "%s [dns]", t->base.desc);

	t->eof = false;
	t->want_rd = false;
	/* The session is ours from here (t_close tells us when it ends); relay_open may
	 * already end it (a failed resolve or connect): then it returns NULL. */
	t->s = relay_open(t->relay, &tunnel_cops, t, &t->target, desc);
	if (t->s)
		ev_timer_again(t->loop, &t->idle);
}

/* Closes a connection that carried nothing for TUNNEL_IDLE seconds. While a query is
 * outstanding it waits: the query ends with an answer or its own deadline. */
static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct up_tunnel *t = container_of(w, struct up_tunnel, idle);

	(void)revents;
	if (!t->s) {
		ev_timer_stop(loop, w);
		return;
	}
	if (t->queries) {
		ev_timer_again(loop, w);
		return;
	}
	log_debug("%s: closing the connection, idle for %.0f s", t->base.desc, TUNNEL_IDLE);
	relay_session_close(t->s); /* t_close clears t->s and stops this timer */
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct up_tunnel *t = container_of(w, struct up_tunnel, kick);
	struct tq *q;

	(void)revents;
	ev_timer_stop(loop, w);
	if (!t->queries && !t->s)
		return;
	if (!t->s) {
		for (q = t->queries; q; q = q->next)
			if (!q->sent && write_query(t, q) < 0)
				break;
		t_connect(t);
		return;
	}
	if (t->want_rd && (buf_used(&t->out) || t->eof))
		relay_client_ready(t->s, true, false);
}

static struct dns_upq *tunnel_query(struct dns_up *base, const struct dns_question *question,
				    dns_up_cb cb, void *arg)
{
	struct up_tunnel *t = container_of(base, struct up_tunnel, base);
	struct tq *q;

	if (t->n_queries >= TUNNEL_MAX_QUERIES)
		return NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->t = t;
	q->cb = cb;
	q->arg = arg;
	q->q = *question;
	do /* unique among the outstanding ones */
		q->id = dns_up_random_id();
	while (find(t, q->id));
	q->next = t->queries;
	if (t->queries)
		t->queries->prev = q;
	t->queries = q;
	t->n_queries++;
	/* On a live connection it goes out now; else kick_cb writes it and connects. */
	if (t->s && !t->eof && write_query(t, q) < 0) {
		tq_unlink(q);
		free(q);
		return NULL;
	}
	if (t->s)
		ev_timer_again(t->loop, &t->idle);
	kick(t);
	return (struct dns_upq *)q;
}

static void tunnel_cancel(struct dns_upq *h)
{
	struct tq *q = (struct tq *)h;

	if (!q)
		return;
	tq_unlink(q);
	free(q);
}

static void tunnel_free(struct dns_up *base)
{
	struct up_tunnel *t = container_of(base, struct up_tunnel, base);
	struct tq *q;

	t->freeing = true;
	ev_timer_stop(t->loop, &t->kick);
	ev_timer_stop(t->loop, &t->idle);
	while ((q = t->queries)) {
		tq_unlink(q);
		free(q);
	}
	if (t->s)
		relay_session_close(t->s);
	buf_free(&t->out);
	buf_free(&t->in);
	free(t);
}

static const struct dns_up_ops tunnel_ops = {
	.name = "foreign",
	.query = tunnel_query,
	.cancel = tunnel_cancel,
	.free = tunnel_free,
};

struct dns_up *dns_up_tunnel_new(struct ev_loop *loop, struct relay *relay,
				 const struct host_port *hp)
{
	struct up_tunnel *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->base.ops = &tunnel_ops;
	t->loop = loop;
	t->relay = relay;
	if (net_pton(hp->host, hp->port, &t->target.addr) < 0)
		snprintf(t->target.host, sizeof(t->target.host), "%s", hp->host);
	t->target.port = hp->port;
	dns_up_describe(&t->base, hp);
	ev_timer_init(&t->kick, kick_cb, 0., 0.);
	ev_init(&t->idle, idle_cb);
	t->idle.repeat = TUNNEL_IDLE;
	return &t->base;
}
