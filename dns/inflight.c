#define INFLIGHT_MAX 16384
#define INFLIGHT_BUCKETS 4096 /* a power of two */

struct waiter {
	struct waiter *next;
	struct dns_msg q; /* the client's query; wire NULL (only header, question, EDNS used) */
	struct dns_client c;
	dns_reply_fn fn;
	void *ctx;
	double t0;
};

struct inflight;

struct side_state {
	struct inflight *f;
	enum side which;
	struct dns_upq *q; /* the query out now, or NULL */
	struct dns_up *up; /* whom q went to */
	size_t tried; /* servers asked so far */
	bool done; /* answered or every server failed */
	uint8_t *wire; /* a copy of the answer's bytes; NULL: no answer */
	struct dns_msg ans; /* its view, parsed once where it arrived (dns_up_match) */
	bool domestic_addrs; /* ans has addresses, all in the domestic set */
};

struct inflight {
	struct dns_server *d;
	struct inflight *hnext;
	uint64_t hash;
	struct dns_question q;
	struct waiter *waiters;
	struct upset *ups;
	enum route route;
	struct side_state side[2];
	ev_timer deadline;
	double t0;
};

/* ---- queries in flight ------------------------------------------------------ */

static void side_start(struct side_state *s);

static struct inflight **inflight_slot(struct dns_server *d, const struct inflight *f)
{
	struct inflight **pp = &d->buckets[f->hash & (INFLIGHT_BUCKETS - 1)];

	while (*pp != f)
		pp = &(*pp)->hnext;
	return pp;
}

static struct inflight *inflight_find(struct dns_server *d, const struct dns_question *q,
				      uint64_t hash)
{
	for (struct inflight *f = d->buckets[hash & (INFLIGHT_BUCKETS - 1)]; f; f = f->hnext)
		if (f->hash == hash && dns_key_eq(&f->q, q))
			return f;
	return NULL;
}

static void inflight_free(struct inflight *f)
{
	struct dns_server *d = f->d;
	struct waiter *w;

	ev_timer_stop(d->loop, &f->deadline);
	for (int s = 0; s < 2; s++) {
		if (f->side[s].q)
			f->side[s].up->ops->cancel(f->side[s].q);
		free(f->side[s].wire);
	}
	while ((w = f->waiters)) {
		f->waiters = w->next;
		free(w);
	}
	upset_put(f->ups);
	d->stats.inflight--;
	free(f);
}

/* Ends f with ans (NULL: SERVFAIL): caches it, answers every waiter, frees f. */
static bool addrs_domestic(const struct dns_server *d, const struct dns_msg *ans)
{
	struct dns_rr_iter it;
	struct dns_rr rr;
	size_t n = 0;

	dns_rr_iter_init(&it, ans);
	while (dns_rr_next(&it, &rr) && rr.section == DNS_SEC_ANSWER) {
		if (rr.type == DNS_T_A && rr.rdlen == 4) {
			if (!cidrset_contains(d->pol.domestic_set, AF_INET, rr.rdata))
				return false;
			n++;
		} else if (rr.type == DNS_T_AAAA && rr.rdlen == 16) {
			if (!cidrset_contains(d->pol.domestic_set, AF_INET6, rr.rdata))
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
	struct side_state *dm = &f->side[DOM], *fr = &f->side[FOR];

	switch (f->route) {
	case ROUTE_DOMESTIC:
		if (dm->done)
			inflight_finish(f, side_answer(dm), "domestic");
		return;
	case ROUTE_FOREIGN:
		if (fr->done)
			inflight_finish(f, side_answer(fr), "foreign");
		return;
	case ROUTE_FAKE:
		if (!dm->done)
			return;
		if (dm->wire && dm->domestic_addrs)
			inflight_finish(f, side_answer(dm), "domestic");
		else
			inflight_finish_fake(f);
		return;
	case ROUTE_SPLIT:
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
	struct upset *u = f->ups;

	s->q = NULL;
	if (ok == 0 && !usable_rcode(ans)) {
		char rb[16];
		log_debug("dns: %s answered %s", s->up->desc, rcode_name(ans->flags & 0xF, rb, sizeof(rb)));
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
	if (s->which == DOM && (f->route == ROUTE_SPLIT || f->route == ROUTE_FAKE))
		s->domestic_addrs = addrs_domestic(f->d, &s->ans);
	inflight_decide(f);
}

/* Asks the side's next server. On a synchronous failure moves on, then gives up. */
static void side_start(struct side_state *s)
{
	struct inflight *f = s->f;
	struct upset *u = f->ups;
	size_t n = u->n[s->which];

	while (s->tried < n) {
		struct dns_up *up = u->v[s->which][(u->next[s->which] + s->tried) % n];
		s->tried++;
		s->up = up;
		f->d->stats.upstream_queries++;
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
	struct side_state *dm = &f->side[DOM], *fr = &f->side[FOR];
	char name[DNS_NAME_TEXT_MAX];

	(void)loop;
	(void)revents;
	if (dns_name_to_text(f->q.name, f->q.name_len, name) < 0)
		snprintf(name, sizeof(name), "?");
	if (f->route == ROUTE_FAKE) {
		if (dm->wire && dm->domestic_addrs)
			inflight_finish(f, side_answer(dm), "domestic");
		else
			inflight_finish_fake(f);
		return;
	}
	if (fr->wire)
		inflight_finish(f, side_answer(fr), "foreign");
	else if (dm->wire && (f->route == ROUTE_DOMESTIC || dm->domestic_addrs))
		inflight_finish(f, side_answer(dm), "domestic");
	else {
		log_info("dns: %s: no upstream answered within %.0f s", name, f->d->pol.timeout);
		inflight_finish(f, NULL, "failed");
	}
}

/* Starts resolving q (w may be NULL: a prefetch). On failure to start, w gets SERVFAIL. */
static void inflight_start(struct dns_server *d, const struct dns_question *q, uint64_t hash,
			   struct waiter *w)
{
	struct inflight *f = NULL;

	if (d->stats.inflight < INFLIGHT_MAX)
		f = calloc(1, sizeof(*f));
	if (!f) {
		if (w) {
			log_warn("dns: too many queries in flight (%llu): answering SERVFAIL",
				 (unsigned long long)d->stats.inflight);
			d->stats.failed++;
			send_error(d, &w->q, &w->c, DNS_R_SERVFAIL, "failed", w->t0, w->fn, w->ctx);
			free(w);
		}
		return;
	}
	d->stats.inflight++;
	f->d = d;
	f->q = *q;
	f->hash = hash;
	f->waiters = w;
	f->ups = d->ups;
	f->ups->refs++;
	f->route = route_for(d, q);
	f->t0 = ev_now(d->loop);
	for (int s = 0; s < 2; s++) {
		f->side[s].f = f;
		f->side[s].which = (enum side)s;
	}
	f->hnext = d->buckets[hash & (INFLIGHT_BUCKETS - 1)];
	d->buckets[hash & (INFLIGHT_BUCKETS - 1)] = f;
	ev_timer_init(&f->deadline, deadline_cb, d->pol.timeout, 0.);
	ev_timer_start(d->loop, &f->deadline);
	if (f->route != ROUTE_FOREIGN) {
		side_start(&f->side[DOM]);
		d->ups->next[DOM]++;
	} else {
		f->side[DOM].done = true;
	}
	if (f->route != ROUTE_DOMESTIC && f->route != ROUTE_FAKE) {
		side_start(&f->side[FOR]);
		d->ups->next[FOR]++;
	} else {
		f->side[FOR].done = true;
	}
	/* Queries never call back from inside dns_up_query, but both may have failed to
	 * start at all. */
	if (f->side[DOM].done && f->side[FOR].done)
		inflight_decide(f);
}
