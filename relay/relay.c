/* relay.c -- the one relay: its context (proxy instances, the upstream group and its
 * checks), opening sessions, and the one place a session ends (session_close). Opening
 * the upstream (resolve, connect, handshake, failing over) is dial.c; moving the bytes
 * is pump.c.
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
#include "relay/internal.h"
#include "relay/udp.h"
#include "relay/upcheck.h"
#include "relay/upstream.h"

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

/* ---- the one place a session ends ------------------------------------- */

void session_close(struct session *s, enum close_how how, enum log_level lvl,
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
	session_uncount_upstream(s);
	proxy_inst_put(s->proxy);
	s->proxy = NULL;
	upstreams_put(s->group);
	s->group = NULL;
	buf_free(&s->to_up);
	buf_free(&s->to_client);
	buf_free(&s->hs_in);
	buf_free(&s->replay);
	buf_free(&s->sniff);
	r->stats.sessions_active--;

	/* Off the live list; the memory goes after this callback returns. */
	LIST_REMOVE(s, link);
	LIST_INSERT_HEAD(&r->dead, s, link);
}

/* A read or write on one side failed with err. ETIMEDOUT is what the kernel (and the
 * netstack, for lwIP's aborts) reports when the peer stopped answering: the keepalive
 * probes or the retransmissions went unanswered, so that peer vanished. */
void session_side_failed(struct session *s, enum close_how how, enum log_level lvl,
				const char *side, const char *what, int err)
{
	if (err == ETIMEDOUT)
		session_close(s, how, LOG_INFO, "%s vanished: no answer to keepalive probes or "
			      "retransmissions (%s)", side, strerror(err));
	else
		session_close(s, how, lvl, "%s %s failed: %s", side, what, strerror(err));
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
	s->id = relay_next_conn_id(r);
	/* A fake-IP name is the host already; otherwise the first bytes may name it. */
	snprintf(s->host, sizeof(s->host), "%s", t->udp_associate ? "" : t->host);
	s->sniff_done = s->host[0] || t->direct || t->udp_associate;
	snprintf(s->desc, sizeof(s->desc), "%s", desc);
	s->cops = ops;
	s->c = c;
	s->ufd = -1;
	s->state = S_RESOLVING;
	s->started = s->last_active = ev_now(r->loop);
	ev_timer_init(&s->timer, session_timer_cb, p->cfg.connect_timeout, 0.);
	ev_timer_start(r->loop, &s->timer);
	LIST_INSERT_HEAD(&r->live, s, link);
	session_count_upstream(s);
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
	if (r->udp)
		udp_relay_orphan(r->udp);
	r->udp = NULL;
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

struct proxy_inst *relay_proxy_instead(struct relay *r, const struct proxy_inst *p)
{
	struct upstreams *g = r->group;
	size_t n = upstreams_count(g);
	struct proxy_inst *q;
	int i, pick;

	if (n < 2)
		return NULL;
	for (i = 0; i < (int)n; i++)
		if (strcmp(upstreams_name(g, i), p->cfg.name) == 0)
			break;
	if (i == (int)n || upstreams_state(g, i) != UPSTREAM_DOWN)
		return NULL;
	pick = upstreams_pick(g, 1u << i, ev_now(r->loop));
	if (pick < 0)
		return NULL;
	q = upstreams_proxy(g, pick);
	q->refs++;
	return q;
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

void relay_describe_upstreams(const struct relay *r, char *buf, size_t len)
{
	size_t n = upstreams_count(r->group), off = 0;

	if (len)
		buf[0] = 0;
	for (size_t i = 0; i < n && off < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s:%s", i ? "," : "",
				 upstreams_name(r->group, (int)i),
				 upstream_state_name(upstreams_state(r->group, (int)i)));
		if (w < 0)
			break;
		off += (size_t)w;
	}
}
