/* inflight.c -- the queries in flight (see inflight.h): a table of them keyed like the
 * cache, each with its waiters, the state of its two sides, its deadline, and the split
 * decision, taken each time a side is done and at the deadline. */
#include "dns/inflight.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/cidrset.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/util.h"
#include "dns/upstream.h"

#define INFLIGHT_MAX 16384

struct inflight;

struct side_state {
	struct inflight *f;
	enum dns_side which;
	struct dns_upq *q; /* the query out now, or NULL */
	struct dns_up *up; /* whom q went to */
	size_t tried; /* servers asked so far */
	bool done; /* answered or every server failed */
	uint8_t *wire; /* a copy of the answer's bytes; NULL: no answer */
	struct dns_msg ans; /* its view, parsed once where it arrived (dns_up_match) */
	bool domestic_addrs; /* ans has addresses, all in the domestic set */
};

struct inflight {
	struct dns_inflights *t;
	UT_hash_handle hh; /* key: key[klen] */
	uint8_t key[DNS_KEY_MAX];
	size_t klen;
	struct dns_question q;
	struct dns_waiters waiters;
	struct dns_upset *ups;
	enum dns_route route;
	struct side_state side[2];
	ev_timer deadline;
};

struct dns_inflights {
	struct ev_loop *loop;
	dns_inflight_done_fn done;
	void *ctx;
	const struct cidrset *domestic;
	double timeout;
	size_t n;
	uint64_t sent;
	struct inflight *table;
};

static void side_start(struct side_state *s);


static void inflight_free(struct inflight *f)
{
	struct dns_inflights *d = f->t;
	struct dns_waiter *w;

	ev_timer_stop(d->loop, &f->deadline);
	for (int s = 0; s < 2; s++) {
		if (f->side[s].q)
			f->side[s].up->ops->cancel(f->side[s].q);
		free(f->side[s].wire);
	}
	while ((w = TAILQ_FIRST(&f->waiters))) {
		TAILQ_REMOVE(&f->waiters, w, link);
		free(w);
	}
	dns_upset_put(f->ups);
	d->n--;
	free(f);
}

/* Ends f with ans (NULL: none) from source: hands its waiters over, frees f. */
static void inflight_finish(struct inflight *f, const struct dns_msg *ans, const char *source)
{
	struct dns_inflights *d = f->t;

	HASH_DEL(d->table, f); /* a query a reply brings on starts afresh */
	for (int s = 0; s < 2; s++) { /* the other side's answer is no longer wanted */
		if (f->side[s].q) {
			f->side[s].up->ops->cancel(f->side[s].q);
			f->side[s].q = NULL;
		}
	}
	d->done(d->ctx, &f->q, &f->waiters, ans, source);
	inflight_free(f);
}

static bool addrs_domestic(const struct dns_inflights *d, const struct dns_msg *ans)
{
	struct dns_rr_iter it;
	struct dns_rr rr;
	size_t n = 0;

	dns_rr_iter_init(&it, ans);
	while (dns_rr_next(&it, &rr) && rr.section == DNS_SEC_ANSWER) {
		if (rr.type == DNS_T_A && rr.rdlen == 4) {
			if (!cidrset_contains(d->domestic, AF_INET, rr.rdata))
				return false;
			n++;
		} else if (rr.type == DNS_T_AAAA && rr.rdlen == 16) {
			if (!cidrset_contains(d->domestic, AF_INET6, rr.rdata))
				return false;
			n++;
		}
	}
	return n > 0;
}

/* The side's answer, or NULL. */
static const struct dns_msg *side_answer(const struct side_state *s)
{
	return s->wire ? &s->ans : NULL;
}

/* Decides once something changed; may finish (free) f. */
static void inflight_decide(struct inflight *f)
{
	struct side_state *dm = &f->side[DNS_DOMESTIC], *fr = &f->side[DNS_FOREIGN];

	switch (f->route) {
	case DNS_ROUTE_DOMESTIC:
		if (dm->done)
			inflight_finish(f, side_answer(dm), "domestic");
		return;
	case DNS_ROUTE_FOREIGN:
		if (fr->done)
			inflight_finish(f, side_answer(fr), "foreign");
		return;
	case DNS_ROUTE_FAKE:
		if (!dm->done)
			return;
		if (dm->wire && dm->domestic_addrs)
			inflight_finish(f, side_answer(dm), "domestic");
		else
			inflight_finish(f, NULL, "fake");
		return;
	case DNS_ROUTE_SPLIT:
		if (dm->wire && dm->domestic_addrs)
			inflight_finish(f, side_answer(dm), "domestic");
		else if (dm->done && fr->wire)
			inflight_finish(f, side_answer(fr), "foreign");
		else if (dm->done && fr->done) /* a non-domestic answer is no fallback */
			inflight_finish(f, NULL, "failed");
		return;
	}
}

static bool usable_rcode(const struct dns_msg *ans)
{
	unsigned rc = ans->flags & 0xF;
	return rc == DNS_R_NOERROR || rc == DNS_R_NXDOMAIN;
}

static void side_done(void *arg, int ok, const struct dns_msg *ans, const char *why)
{
	struct side_state *s = arg;
	struct inflight *f = s->f;
	struct dns_upset *u = f->ups;

	s->q = NULL;
	if (ok == 0 && !usable_rcode(ans)) {
		char rb[16];
		log_debug("dns: %s answered %s", s->up->desc, dns_rcode_name(ans->flags & 0xF, rb, sizeof(rb)));
		ok = -1;
	}
	if (ok < 0) {
		if (why && why[0])
			log_info("dns: %s", why);
		if (s->tried < u->n[s->which]) {
			side_start(s); /* the next server of this side */
			return;
		}
		s->done = true;
		inflight_decide(f);
		return;
	}
	s->wire = malloc(ans->len);
	if (!s->wire) {
		s->done = true;
		inflight_decide(f);
		return;
	}
	memcpy(s->wire, ans->wire, ans->len);
	s->ans = *ans;
	s->ans.wire = s->wire;
	s->done = true;
	if (s->which == DNS_DOMESTIC && (f->route == DNS_ROUTE_SPLIT || f->route == DNS_ROUTE_FAKE))
		s->domestic_addrs = addrs_domestic(f->t, &s->ans);
	inflight_decide(f);
}

/* Asks the side's next server. On a synchronous failure moves on, then gives up. */
static void side_start(struct side_state *s)
{
	struct inflight *f = s->f;
	struct dns_upset *u = f->ups;
	size_t n = u->n[s->which];

	while (s->tried < n) {
		struct dns_up *up = u->v[s->which][(u->next[s->which] + s->tried) % n];
		s->tried++;
		s->up = up;
		f->t->sent++;
		s->q = dns_up_query(up, &f->q, side_done, s);
		if (s->q)
			return;
		log_warn("dns: %s: cannot send a query (out of memory or too many pending)",
			 up->desc);
	}
	s->done = true;
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct inflight *f = container_of(w, struct inflight, deadline);
	struct side_state *dm = &f->side[DNS_DOMESTIC], *fr = &f->side[DNS_FOREIGN];
	char name[DNS_NAME_TEXT_MAX];

	(void)loop;
	(void)revents;
	if (dns_name_to_text(f->q.name, f->q.name_len, name) < 0)
		snprintf(name, sizeof(name), "?");
	if (f->route == DNS_ROUTE_FAKE) {
		if (dm->wire && dm->domestic_addrs)
			inflight_finish(f, side_answer(dm), "domestic");
		else
			inflight_finish(f, NULL, "fake");
		return;
	}
	if (fr->wire)
		inflight_finish(f, side_answer(fr), "foreign");
	else if (dm->wire && (f->route == DNS_ROUTE_DOMESTIC || dm->domestic_addrs))
		inflight_finish(f, side_answer(dm), "domestic");
	else {
		log_info("dns: %s: no upstream answered within %.0f s", name, f->t->timeout);
		inflight_finish(f, NULL, "failed");
	}
}

int dns_inflights_start(struct dns_inflights *d, const struct dns_question *q,
			enum dns_route route, struct dns_upset *ups, struct dns_waiter *w)
{
	struct inflight *f = NULL;
	bool added;

	if (d->n < INFLIGHT_MAX)
		f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->klen = dns_key_make(q, f->key);
	HASH_ADD_OK(added, HASH_ADD(hh, d->table, key, f->klen, f));
	if (!added) {
		free(f);
		return -1;
	}
	d->n++;
	f->t = d;
	f->q = *q;
	TAILQ_INIT(&f->waiters);
	if (w)
		TAILQ_INSERT_TAIL(&f->waiters, w, link);
	f->ups = ups;
	f->ups->refs++;
	f->route = route;
	for (int s = 0; s < 2; s++) {
		f->side[s].f = f;
		f->side[s].which = (enum dns_side)s;
	}
	ev_timer_init(&f->deadline, deadline_cb, d->timeout, 0.);
	ev_timer_start(d->loop, &f->deadline);
	if (f->route != DNS_ROUTE_FOREIGN) {
		side_start(&f->side[DNS_DOMESTIC]);
		ups->next[DNS_DOMESTIC]++;
	} else {
		f->side[DNS_DOMESTIC].done = true;
	}
	if (f->route != DNS_ROUTE_DOMESTIC && f->route != DNS_ROUTE_FAKE) {
		side_start(&f->side[DNS_FOREIGN]);
		ups->next[DNS_FOREIGN]++;
	} else {
		f->side[DNS_FOREIGN].done = true;
	}
	/* Queries never call back from inside dns_up_query, but both may have failed to
	 * start at all. */
	if (f->side[DNS_DOMESTIC].done && f->side[DNS_FOREIGN].done)
		inflight_decide(f);
	return 0;
}

bool dns_inflights_join(struct dns_inflights *d, const struct dns_question *q,
			struct dns_waiter *w)
{
	uint8_t key[DNS_KEY_MAX];
	size_t klen = dns_key_make(q, key);
	struct inflight *f;

	HASH_FIND(hh, d->table, key, klen, f);
	if (!f)
		return false;
	if (w)
		TAILQ_INSERT_HEAD(&f->waiters, w, link);
	return true;
}

struct dns_inflights *dns_inflights_new(struct ev_loop *loop, dns_inflight_done_fn done,
					void *ctx)
{
	struct dns_inflights *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->loop = loop;
	d->done = done;
	d->ctx = ctx;
	return d;
}

void dns_inflights_configure(struct dns_inflights *d, const struct cidrset *domestic,
			     double timeout)
{
	d->domestic = domestic;
	d->timeout = timeout;
}

void dns_inflights_free(struct dns_inflights *d)
{
	struct inflight *f, *tmp;

	if (!d)
		return;
	HASH_ITER(hh, d->table, f, tmp) {
		HASH_DEL(d->table, f);
		inflight_free(f);
	}
	free(d);
}

size_t dns_inflights_count(const struct dns_inflights *d)
{
	return d->n;
}

uint64_t dns_inflights_sent(const struct dns_inflights *d)
{
	return d->sent;
}
