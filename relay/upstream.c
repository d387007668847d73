/* upstream.c -- the upstreams a relay chooses from and their health (see upstream.h). */
#include "relay/upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "relay/relay.h"

#define BACKOFF_MIN 1.0 /* seconds a DOWN member waits before a connection tries it again */
#define BACKOFF_MAX 60.0
#define EARLY_CLOSES_DOWN 3 /* early closes in a row that take a member down */

struct member {
	struct config_proxy cfg;
	struct proxy_inst *p;
	enum upstream_state state;
	double retry_at; /* DOWN: a connection may try it again from then */
	double backoff;
	double latency; /* of the last good check, seconds; < 0 unknown */
	double changed_at; /* when its state last changed: reports of older attempts are stale */
	unsigned early_closes;
};

struct upstreams {
	unsigned refs;
	enum upstream_policy policy;
	size_t n;
	unsigned rr; /* round-robin: where the next pick starts */
	bool all_down; /* as last logged */
	struct member m[CONFIG_PROXIES_MAX];
};

static const char *const state_names[] = { "unknown", "up", "down" };

struct upstreams *upstreams_new(const struct config *cfg, const struct upstreams *prev,
				double now, char *err, size_t errlen)
{
	struct upstreams *g = calloc(1, sizeof(*g));

	(void)now;
	if (!g) {
		snprintf(err, errlen, "upstreams: out of memory");
		return NULL;
	}
	g->refs = 1;
	g->policy = cfg->upstream.policy;
	for (size_t i = 0; i < cfg->n_proxies; i++) {
		struct member *m = &g->m[i];

		m->cfg = cfg->proxies[i];
		m->p = proxy_inst_new(&cfg->proxies[i], err, errlen);
		if (!m->p)
			goto fail;
		g->n++;
		m->latency = -1;
		for (size_t j = 0; prev && j < prev->n; j++) {
			const struct member *o = &prev->m[j];

			if (!memcmp(&o->cfg, &m->cfg, sizeof(m->cfg))) {
				m->state = o->state;
				m->retry_at = o->retry_at;
				m->backoff = o->backoff;
				m->latency = o->latency;
				m->early_closes = o->early_closes;
				m->changed_at = o->changed_at;
				break;
			}
		}
	}
	g->all_down = !upstreams_any_up(g);
	return g;
fail:
	upstreams_put(g);
	return NULL;
}

void upstreams_ref(struct upstreams *g)
{
	g->refs++;
}

void upstreams_put(struct upstreams *g)
{
	if (!g || --g->refs > 0)
		return;
	for (size_t i = 0; i < g->n; i++)
		proxy_inst_put(g->m[i].p);
	explicit_bzero(g, sizeof(*g)); /* the members' passwords */
	free(g);
}

size_t upstreams_count(const struct upstreams *g)
{
	return g->n;
}

const char *upstreams_name(const struct upstreams *g, int i)
{
	return g->m[i].cfg.name;
}

struct proxy_inst *upstreams_proxy(const struct upstreams *g, int i)
{
	return g->m[i].p;
}

const char *upstream_state_name(enum upstream_state st)
{
	return (unsigned)st < sizeof(state_names) / sizeof(state_names[0]) ? state_names[st] : "?";
}

enum upstream_state upstreams_state(const struct upstreams *g, int i)
{
	return g->m[i].state;
}

bool upstreams_any_up(const struct upstreams *g)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->m[i].state != UPSTREAM_DOWN)
			return true;
	return false;
}

/* Whether member i may carry a new connection now: not DOWN, or its back-off is over. */
static bool usable(const struct upstreams *g, size_t i, uint32_t tried, double now)
{
	const struct member *m = &g->m[i];

	return !(tried & (1u << i)) && (m->state != UPSTREAM_DOWN || now >= m->retry_at);
}

int upstreams_pick(struct upstreams *g, uint32_t tried, double now)
{
	int best = -1;

	if (g->n == 1)
		return tried & 1u ? -1 : 0;
	switch (g->policy) {
	case UPSTREAM_ROUND_ROBIN:
		for (size_t k = 0; k < g->n; k++) {
			size_t i = (g->rr + k) % g->n;
			if (usable(g, i, tried, now) && g->m[i].state != UPSTREAM_DOWN) {
				g->rr = (unsigned)((i + 1) % g->n);
				return (int)i;
			}
		}
		break;
	case UPSTREAM_FASTEST:
		for (size_t i = 0; i < g->n; i++) {
			const struct member *m = &g->m[i];
			if (!usable(g, i, tried, now) || m->state != UPSTREAM_UP || m->latency < 0)
				continue;
			if (best < 0 || m->latency < g->m[best].latency)
				best = (int)i;
		}
		if (best >= 0)
			return best;
		/* fall through - nothing measured yet: list order */
	case UPSTREAM_FAILOVER:
		for (size_t i = 0; i < g->n; i++)
			if (usable(g, i, tried, now) && g->m[i].state != UPSTREAM_DOWN)
				return (int)i;
		break;
	}
	/* Only members backing off are left: the first whose back-off is over gets a try. */
	for (size_t i = 0; i < g->n; i++)
		if (usable(g, i, tried, now))
			return (int)i;
	return -1;
}

/* One log line per change of a member's state, and one when the group as a whole goes
 * from some member up to none, or back. */
static void set_state(struct upstreams *g, struct member *m, enum upstream_state to,
		      const char *why, double now)
{
	bool all_down;

	if (m->state == to)
		return;
	log_msg(to == UPSTREAM_DOWN ? LOG_WARN : LOG_INFO, "upstream %s: %s -> %s (%s)",
		m->cfg.name, state_names[m->state], state_names[to], why);
	m->state = to;
	m->changed_at = now;
	all_down = !upstreams_any_up(g);
	if (all_down != g->all_down && g->n > 1)
		log_msg(all_down ? LOG_ERROR : LOG_INFO, "%s", all_down
			? "upstreams: none is up; captured connections are refused until one is"
			: "upstreams: one is up again; connections go through it");
	g->all_down = all_down;
}

static bool go_down(struct upstreams *g, struct member *m, const char *why, double now)
{
	bool was_down = m->state == UPSTREAM_DOWN;

	m->backoff = m->backoff < BACKOFF_MIN ? BACKOFF_MIN : m->backoff * 2;
	if (m->backoff > BACKOFF_MAX)
		m->backoff = BACKOFF_MAX;
	m->retry_at = now + m->backoff;
	m->early_closes = 0;
	set_state(g, m, UPSTREAM_DOWN, why, now);
	return !was_down;
}

static void go_up(struct upstreams *g, struct member *m, const char *why, double now)
{
	m->backoff = 0;
	m->early_closes = 0;
	set_state(g, m, UPSTREAM_UP, why, now);
}

bool upstreams_report(struct upstreams *g, int i, enum upstream_outcome o, const char *why,
		      double since, double now)
{
	struct member *m = &g->m[i];
	char buf[256];

	/* A connection begun before the member's state last changed says nothing about it
	 * now: one failing against the old, dead server after a check found it back would
	 * take it down again at once; one answered by what the old server sent before it
	 * died would bring it up again at once. */
	if (since < m->changed_at)
		return false;
	switch (o) {
	case UPSTREAM_OK:
		go_up(g, m, why, now);
		return false;
	case UPSTREAM_FAILED:
		return go_down(g, m, why, now);
	case UPSTREAM_EARLY_CLOSE:
		if (++m->early_closes < EARLY_CLOSES_DOWN)
			return false;
		snprintf(buf, sizeof(buf), "%u connections in a row closed before any byte came "
			 "back; the last: %s", EARLY_CLOSES_DOWN, why);
		return go_down(g, m, buf, now);
	}
	return false;
}

double upstreams_latency(const struct upstreams *g, int i)
{
	return g->m[i].latency;
}

bool upstreams_checked(struct upstreams *g, int i, bool ok, double latency, const char *why,
		       double now)
{
	struct member *m = &g->m[i];

	if (!ok)
		return go_down(g, m, why, now);
	m->latency = latency;
	go_up(g, m, why, now);
	return false;
}
