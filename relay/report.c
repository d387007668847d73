/* report.c -- what the relay tells the stats view: the open sessions (with the host the
 * client named, learned once from its first bytes by relay/sniff.c), their rates from
 * counters sampled when asked (once a second by the stats endpoint; nothing is done per
 * byte beyond the counters pump.c increments anyway), and counters per upstream name. */
#include <stdio.h>
#include <string.h>

#include "base/net.h"
#include "relay/internal.h"
#include "relay/sniff.h"
#include "relay/udp.h"

uint64_t relay_next_conn_id(struct relay *r)
{
	return ++r->next_id;
}

void relay_attach_udp(struct relay *r, struct udp_relay *u)
{
	r->udp = u;
}

const struct udp_stats *relay_udp_stats(const struct relay *r)
{
	return r->udp ? udp_relay_stats(r->udp) : NULL;
}

void relay_detach_udp(struct relay *r, struct udp_relay *u)
{
	if (r->udp == u)
		r->udp = NULL;
}

/* ---- per upstream ----------------------------------------------------- */

static const char *session_upstream_name(const struct session *s)
{
	if (s->group && s->member >= 0)
		return upstreams_name(s->group, s->member);
	return s->proxy->cfg.name[0] ? s->proxy->cfg.name : s->proxy->ops->name;
}

static struct relay_upcount *upcount_for(struct relay *r, const char *name)
{
	struct relay_upcount *u;

	for (size_t i = 0; i < r->n_upc; i++)
		if (strcmp(r->upc[i].name, name) == 0)
			return &r->upc[i];
	if (r->n_upc == RELAY_UPCOUNT_MAX)
		return NULL; /* more names than that over the reloads: the rest go uncounted */
	u = &r->upc[r->n_upc++];
	snprintf(u->name, sizeof(u->name), "%s", name);
	return u;
}

void session_count_upstream(struct session *s)
{
	s->upc = upcount_for(s->relay, session_upstream_name(s));
	if (s->upc) {
		s->upc->opened++;
		s->upc->open++;
	}
}

void session_uncount_upstream(struct session *s)
{
	if (!s->upc)
		return;
	s->upc->open--;
	s->upc->bytes_up += s->bytes_up - s->upc_up;
	s->upc->bytes_down += s->bytes_down - s->upc_down;
	s->upc_up = s->bytes_up;
	s->upc_down = s->bytes_down;
	s->upc = NULL;
}

void relay_upstreams_foreach(const struct relay *r, relay_upstream_fn fn, void *ctx)
{
	struct relay_upstream_figures f;
	const struct session *s;

	for (size_t i = 0; i < r->n_upc; i++) {
		const struct relay_upcount *u = &r->upc[i];

		memset(&f, 0, sizeof(f));
		f.name = u->name;
		f.health = "unknown";
		f.latency = -1;
		f.sessions_total = u->opened;
		f.sessions_open = u->open;
		f.bytes_up = u->bytes_up;
		f.bytes_down = u->bytes_down;
		LIST_FOREACH(s, &r->live, link) {
			if (s->upc == u) {
				f.bytes_up += s->bytes_up - s->upc_up;
				f.bytes_down += s->bytes_down - s->upc_down;
			}
		}
		for (size_t m = 0; r->group && m < upstreams_count(r->group); m++) {
			if (strcmp(upstreams_name(r->group, (int)m), u->name) == 0) {
				f.member = true;
				f.health = upstream_state_name(upstreams_state(r->group, (int)m));
				f.latency = upstreams_latency(r->group, (int)m);
			}
		}
		fn(ctx, &f);
	}
	/* Members no session went through yet. */
	for (size_t m = 0; r->group && m < upstreams_count(r->group); m++) {
		const char *name = upstreams_name(r->group, (int)m);
		bool seen = false;

		for (size_t i = 0; i < r->n_upc && !seen; i++)
			seen = strcmp(r->upc[i].name, name) == 0;
		if (seen)
			continue;
		memset(&f, 0, sizeof(f));
		f.name = name;
		f.member = true;
		f.health = upstream_state_name(upstreams_state(r->group, (int)m));
		f.latency = upstreams_latency(r->group, (int)m);
		fn(ctx, &f);
	}
}

/* ---- the host a client names ------------------------------------------ */

static void sniff_end(struct session *s)
{
	s->sniff_done = true;
	buf_free(&s->sniff);
}

void session_sniff(struct session *s, const uint8_t *chunk, size_t len)
{
	const uint8_t *data = chunk;
	size_t n = len;

	/* Bytes of earlier reads are kept only while a name may still follow. */
	if (buf_used(&s->sniff) > 0 || s->bytes_up > len) {
		if (buf_used(&s->sniff) + len != s->bytes_up ||
		    buf_append(&s->sniff, chunk, len < SNIFF_MAX ? len : SNIFF_MAX) < 0) {
			sniff_end(s);
			return;
		}
		data = buf_head(&s->sniff);
		n = buf_used(&s->sniff);
	}
	switch (sniff_host(data, n, s->host, sizeof(s->host))) {
	case SNIFF_OK:
		log_debug("%s: host %s", s->desc, s->host);
		sniff_end(s);
		return;
	case SNIFF_ERROR:
		s->host[0] = '\0';
		sniff_end(s);
		return;
	case SNIFF_NEED_MORE:
		if (n >= SNIFF_MAX) {
			sniff_end(s);
			return;
		}
		if (data == chunk && buf_append(&s->sniff, chunk, len) < 0)
			sniff_end(s);
		return;
	}
}

/* ---- the open sessions ------------------------------------------------ */

void relay_sample_rates(struct relay *r)
{
	ev_tstamp now = ev_now(r->loop), dt = now - r->sampled;
	struct session *s;

	LIST_FOREACH(s, &r->live, link) {
		if (r->sampled > 0 && dt > 0 && s->started <= r->sampled) {
			s->rate_up = (float)((double)(s->bytes_up - s->rate_prev_up) / dt);
			s->rate_down = (float)((double)(s->bytes_down - s->rate_prev_down) / dt);
		} else if (now > s->started) {
			/* opened since the last sample: its average so far */
			s->rate_up = (float)((double)s->bytes_up / (now - s->started));
			s->rate_down = (float)((double)s->bytes_down / (now - s->started));
		}
		s->rate_prev_up = s->bytes_up;
		s->rate_prev_down = s->bytes_down;
	}
	if (r->udp)
		udp_relay_sample(r->udp, r->sampled);
	r->sampled = now;
}

void relay_conns_foreach(const struct relay *r, relay_conn_fn fn, void *ctx)
{
	const struct session *s;

	LIST_FOREACH(s, &r->live, link) {
		char src[sizeof(s->desc)], dst[NET_ADDRSTRLEN + 260];
		const char *arrow = strstr(s->desc, " -> ");
		struct relay_conn c = {
			.id = s->id,
			.proto = "tcp",
			.host = s->host[0] ? s->host : NULL,
			.upstream = session_upstream_name(s),
			.state = s->state == S_RELAY ? "relay" : "dialing",
			.bytes_up = s->bytes_up,
			.bytes_down = s->bytes_down,
			.rate_up = s->rate_up,
			.rate_down = s->rate_down,
			.age_s = ev_now(r->loop) - s->started,
		};

		if (s->state == S_CLOSED)
			continue;
		/* Every client side's owner writes its desc as "client -> destination ...". */
		if (arrow) {
			snprintf(src, sizeof(src), "%.*s", (int)(arrow - s->desc), s->desc);
			c.src = src;
		}
		if (s->target.addr.ss_family == AF_INET || s->target.addr.ss_family == AF_INET6) {
			net_ntop(&s->target.addr, dst, sizeof(dst));
			c.dst_addr = &s->target.addr;
		} else {
			snprintf(dst, sizeof(dst), "%s:%u", s->target.host, s->target.port);
		}
		c.dst = dst;
		fn(ctx, &c);
	}
	if (r->udp)
		udp_relay_conns(r->udp, fn, ctx);
}
