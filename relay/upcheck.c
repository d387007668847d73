/* upcheck.c -- active health checks of the upstreams (see upcheck.h).
 *
 * A check is a relay session opened through one member's proxy instance to
 * check_host:check_port, with the check itself as the client side: it hands the relay one
 * GET request and reads what comes back until a status line ("HTTP/1.x NNN") is there.
 * Any status counts: the upstream carried the request and the answer. It never sends a
 * FIN (some proxies close both directions on one). The session is ended from a 0 s timer,
 * never inside the relay's own call. */
#include "relay/upcheck.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "relay/relay.h"
#include "relay/upstream.h"

struct check {
	struct upcheck *u;
	int i; /* the member */
	struct session *s; /* NULL: none running */
	ev_tstamp started;
	char req[512];
	size_t req_len, req_sent;
	char resp[16];
	size_t resp_len;
	bool running, ended;
	char why[160];
	bool ok;
	ev_timer deadline; /* check-timeout */
	ev_timer finish; /* 0 s: reports and ends the session outside the relay's call */
};

struct upcheck {
	struct ev_loop *loop;
	struct relay *r;
	struct upstreams *g; /* a reference */
	unsigned interval, timeout;
	char host[CONFIG_HOST_MAX];
	uint16_t port;
	ev_timer round;
	size_t first_left; /* first-round checks still running */
	size_t n;
	struct check c[CONFIG_PROXIES_MAX];
};

/* ---- the check as a client side ----------------------------------------- */

static ssize_t ck_read(void *p, void *buf, size_t cap)
{
	struct check *c = p;
	size_t n = c->req_len - c->req_sent;

	if (!n) {
		errno = EAGAIN;
		return -1;
	}
	if (n > cap)
		n = cap;
	memcpy(buf, c->req + c->req_sent, n);
	c->req_sent += n;
	return (ssize_t)n;
}

static void ck_end(struct check *c, bool ok, const char *why)
{
	if (c->ended)
		return;
	c->ended = true;
	c->ok = ok;
	snprintf(c->why, sizeof(c->why), "%s", why);
	ev_timer_start(c->u->loop, &c->finish);
}

static ssize_t ck_write(void *p, const void *buf, size_t len)
{
	struct check *c = p;
	size_t take = len < sizeof(c->resp) - c->resp_len ? len : sizeof(c->resp) - c->resp_len;

	memcpy(c->resp + c->resp_len, buf, take);
	c->resp_len += take;
	/* "HTTP/1.1 204": the status line's first 12 bytes are enough. */
	if (c->resp_len >= 12 && !c->ended) {
		if (!memcmp(c->resp, "HTTP/1.", 7) && c->resp[8] == ' ' && c->resp[9] >= '1' &&
		    c->resp[9] <= '5')
			ck_end(c, true, "check answered");
		else
			ck_end(c, false, "check: not an HTTP answer");
	}
	return (ssize_t)len;
}

static void ck_want(void *p, bool rd, bool wr)
{
	(void)p;
	(void)rd;
	(void)wr;
}

static void ck_shutdown_write(void *p)
{
	ck_end(p, false, "check: closed before a status line");
}

static void ck_close(void *p, bool reset)
{
	struct check *c = p;

	(void)reset;
	c->s = NULL;
	ck_end(c, false, "check: the connection through it failed");
}

static const struct client_ops check_ops = {
	.read = ck_read,
	.write = ck_write,
	.want = ck_want,
	.shutdown_write = ck_shutdown_write,
	.close = ck_close,
};

/* ---- rounds ------------------------------------------------------------- */

static void finish_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct check *c = w->data;
	struct upcheck *u = c->u;
	char why[200];

	(void)revents;
	ev_timer_stop(loop, &c->deadline);
	if (c->s)
		relay_session_close(c->s); /* ck_close runs: ended already, nothing more */
	c->s = NULL;
	c->running = false;
	if (c->ok)
		snprintf(why, sizeof(why), "%s in %.0f ms", c->why,
			 (ev_now(loop) - c->started) * 1e3);
	else
		snprintf(why, sizeof(why), "%s", c->why);
	relay_upstream_checked(u->r, u->g, c->i, c->ok, ev_now(loop) - c->started, why);
	if (u->first_left)
		u->first_left--;
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct check *c = w->data;
	char why[96];

	(void)loop;
	(void)revents;
	snprintf(why, sizeof(why), "check: no status line within %u s", c->u->timeout);
	ck_end(c, false, why);
}

static void check_start(struct upcheck *u, struct check *c)
{
	struct target t;
	char desc[128];

	if (c->running)
		return;
	c->running = true;
	c->ended = false;
	c->ok = false;
	c->resp_len = 0;
	c->req_sent = 0;
	c->started = ev_now(u->loop);
	memset(&t, 0, sizeof(t));
	snprintf(t.host, sizeof(t.host), "%s", u->host);
	t.port = u->port;
	snprintf(desc, sizeof(desc), "check of upstream %s", upstreams_name(u->g, c->i));
	ev_timer_set(&c->deadline, u->timeout, 0.);
	ev_timer_start(u->loop, &c->deadline);
	c->s = relay_open_via(u->r, upstreams_proxy(u->g, c->i), &check_ops, c, &t, desc);
}

static void round_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct upcheck *u = w->data;

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < u->n; i++)
		check_start(u, &u->c[i]);
}

struct upcheck *upcheck_new(struct ev_loop *loop, struct relay *r, struct upstreams *g,
			    const struct config *cfg)
{
	struct upcheck *u;

	if (!cfg->upstream.check_interval || upstreams_count(g) < 2)
		return NULL;
	u = calloc(1, sizeof(*u));
	if (!u) {
		log_error("upstream checks: out of memory; only passive detection");
		return NULL;
	}
	u->loop = loop;
	u->r = r;
	u->g = g;
	upstreams_ref(g);
	u->interval = cfg->upstream.check_interval;
	u->timeout = cfg->upstream.check_timeout;
	snprintf(u->host, sizeof(u->host), "%s", cfg->upstream.check_host);
	u->port = cfg->upstream.check_port;
	u->n = upstreams_count(g);
	u->first_left = u->n;
	for (size_t i = 0; i < u->n; i++) {
		struct check *c = &u->c[i];
		int n;

		c->u = u;
		c->i = (int)i;
		n = snprintf(c->req, sizeof(c->req),
			     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: snet-tun\r\n"
			     "Connection: close\r\n\r\n", cfg->upstream.check_path,
			     cfg->upstream.check_host);
		c->req_len = n > 0 && (size_t)n < sizeof(c->req) ? (size_t)n : 0;
		ev_timer_init(&c->deadline, deadline_cb, u->timeout, 0.);
		c->deadline.data = c;
		ev_timer_init(&c->finish, finish_cb, 0., 0.);
		c->finish.data = c;
	}
	ev_timer_init(&u->round, round_cb, 0., u->interval);
	u->round.data = u;
	ev_timer_start(loop, &u->round);
	ev_unref(loop); /* the checks alone do not keep the loop running */
	return u;
}

bool upcheck_first_round_done(const struct upcheck *u)
{
	return !u || !u->first_left;
}

void upcheck_free(struct upcheck *u)
{
	if (!u)
		return;
	ev_ref(u->loop);
	ev_timer_stop(u->loop, &u->round);
	for (size_t i = 0; i < u->n; i++) {
		struct check *c = &u->c[i];

		ev_timer_stop(u->loop, &c->deadline);
		ev_timer_stop(u->loop, &c->finish);
		c->ended = true;
		if (c->s)
			relay_session_close(c->s);
	}
	upstreams_put(u->g);
	free(u);
}
