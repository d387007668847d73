/* resolve.c -- host name resolution off the event loop, and the cache of answers.
 *
 * A query goes to the backend when one is set (dns/lookup.c asks the domestic resolvers
 * on marked sockets, so the proxy server's name never comes back through our own
 * resolver) and otherwise to getaddrinfo() in a worker thread (so /etc/hosts and
 * nsswitch apply); a finished worker queues its request under a mutex and wakes the loop
 * with ev_async. Answers are cached with every address, for the answer's TTL (clamped)
 * or RESOLVE_TTL_SYSTEM for getaddrinfo's, in a small list; resolver_forget drops an
 * address that did not take a connection. The loop thread owns every request except
 * while its worker runs.
 */
#include "base/resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "base/net.h"
#include "base/util.h"

#define RESOLVE_CACHE_MAX 64

struct resolve_req {
	struct resolver *r;
	pthread_t thread; /* getaddrinfo requests */
	void *bh; /* backend requests: the backend's handle until it answers */
	char host[256];
	uint16_t port;
	resolve_cb cb; /* NULL once cancelled */
	void *arg;
	int err;
	struct resolve_answer ans;
	LIST_ENTRY(resolve_req) link; /* in r->running or r->backend_running; loop thread */
	SLIST_ENTRY(resolve_req) done_link; /* in r->done, under r->lock (a worker's own) */
};

struct cache_entry {
	char host[256];
	struct resolve_answer ans; /* n >= 1 */
	ev_tstamp expires;
	TAILQ_ENTRY(cache_entry) link;
};

struct resolver {
	struct ev_loop *loop;
	ev_async wake;
	pthread_mutex_t lock;
	/* A getaddrinfo request stays on running until the loop joined its worker; the
	 * worker puts it on done (its own link) when it finished. */
	LIST_HEAD(req_list, resolve_req) running; /* getaddrinfo workers; loop thread only */
	struct req_list backend_running; /* loop thread only */
	SLIST_HEAD(done_list, resolve_req) done; /* under lock */
	TAILQ_HEAD(cache_list, cache_entry) cache; /* most recently put first */
	size_t cache_len;
	resolve_start_fn start;
	resolve_cancel_fn cancel;
	void *backend_ctx;
	resolve_answer_fn on_answer;
	void *on_answer_ctx;
};

uint32_t resolve_clamp_ttl(uint32_t ttl)
{
	return ttl < RESOLVE_TTL_MIN ? RESOLVE_TTL_MIN : ttl > RESOLVE_TTL_MAX ? RESOLVE_TTL_MAX : ttl;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static void *resolve_thread(void *p)
{
	struct resolve_req *q = p;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL, *ai;

	q->err = getaddrinfo(q->host, NULL, &hints, &res);
	if (q->err == 0) {
		for (ai = res; ai && q->ans.n < RESOLVE_ADDR_MAX; ai = ai->ai_next) {
			struct sockaddr_storage ss = { 0 };
			size_t i;
			if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
			    ai->ai_addrlen > sizeof(ss))
				continue;
			memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
			for (i = 0; i < q->ans.n && !net_sockaddr_equal(&q->ans.addr[i], &ss); i++)
				;
			if (i == q->ans.n)
				q->ans.addr[q->ans.n++] = ss;
		}
		q->ans.ttl = RESOLVE_TTL_SYSTEM;
		freeaddrinfo(res);
		if (!q->ans.n)
			q->err = EAI_NONAME;
	}
	pthread_mutex_lock(&q->r->lock);
	SLIST_INSERT_HEAD(&q->r->done, q, done_link);
	pthread_mutex_unlock(&q->r->lock);
	ev_async_send(q->r->loop, &q->r->wake);
	return NULL;
}

static void cache_unlink(struct resolver *r, struct cache_entry *e)
{
	TAILQ_REMOVE(&r->cache, e, link);
	free(e);
	r->cache_len--;
}

static struct cache_entry *cache_find(struct resolver *r, const char *host)
{
	struct cache_entry *e;

	TAILQ_FOREACH(e, &r->cache, link)
		if (!strcasecmp(e->host, host))
			return e;
	return NULL;
}

/* Replaces host's entry with ans; ans->ttl is the lifetime. */
static void cache_put(struct resolver *r, const char *host, const struct resolve_answer *ans)
{
	struct cache_entry *e = cache_find(r, host);

	if (e)
		cache_unlink(r, e);
	e = calloc(1, sizeof(*e));
	if (!e)
		return; /* the cache is an optimisation */
	strcpy(e->host, host);
	e->ans = *ans;
	for (size_t i = 0; i < e->ans.n; i++)
		set_port(&e->ans.addr[i], 0);
	e->expires = ev_now(r->loop) + ans->ttl;
	TAILQ_INSERT_HEAD(&r->cache, e, link);
	if (++r->cache_len > RESOLVE_CACHE_MAX)
		cache_unlink(r, TAILQ_LAST(&r->cache, cache_list));
}

static bool cache_get(struct resolver *r, const char *host, struct sockaddr_storage *out)
{
	struct cache_entry *e = cache_find(r, host);

	if (!e)
		return false;
	if (e->expires <= ev_now(r->loop)) {
		cache_unlink(r, e);
		return false;
	}
	*out = e->ans.addr[0];
	return true;
}

void resolver_forget(struct resolver *r, const char *host, const struct sockaddr_storage *addr)
{
	struct cache_entry *e = cache_find(r, host);
	struct sockaddr_storage a = *addr;
	struct resolve_answer *ans;

	if (!e)
		return;
	ans = &e->ans;
	set_port(&a, 0);
	for (size_t i = 0; i < ans->n; i++) {
		if (!net_sockaddr_equal(&ans->addr[i], &a))
			continue;
		memmove(&ans->addr[i], &ans->addr[i + 1], (ans->n - i - 1) * sizeof(ans->addr[0]));
		if (--ans->n == 0)
			cache_unlink(r, e);
		return;
	}
}

/* A finished request, off every list: cache, tell, call back, free. */
static void req_finish(struct resolver *r, struct resolve_req *q)
{
	struct sockaddr_storage addr = { 0 };

	if (q->err == 0) {
		cache_put(r, q->host, &q->ans);
		if (r->on_answer)
			r->on_answer(r->on_answer_ctx, q->host, &q->ans);
		addr = q->ans.addr[0];
		set_port(&addr, q->port);
	}
	if (q->cb)
		q->cb(q->arg, q->err, &addr);
	free(q);
}

static void resolver_on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct resolver *r = container_of(w, struct resolver, wake);
	struct done_list list;
	struct resolve_req *q;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&r->lock);
	list = r->done;
	SLIST_INIT(&r->done);
	pthread_mutex_unlock(&r->lock);

	while ((q = SLIST_FIRST(&list))) {
		SLIST_REMOVE_HEAD(&list, done_link);
		pthread_join(q->thread, NULL);
		LIST_REMOVE(q, link);
		req_finish(r, q);
	}
}

static void backend_done(void *arg, int err, const struct resolve_answer *ans)
{
	struct resolve_req *q = arg;
	struct resolver *r = q->r;

	LIST_REMOVE(q, link);
	q->bh = NULL;
	q->err = err;
	if (err == 0 && ans && ans->n) {
		q->ans = *ans;
		if (q->ans.n > RESOLVE_ADDR_MAX)
			q->ans.n = RESOLVE_ADDR_MAX;
		q->ans.ttl = resolve_clamp_ttl(ans->ttl);
	} else if (err == 0) {
		q->err = EAI_NONAME;
	}
	req_finish(r, q);
}

struct resolver *resolver_new(struct ev_loop *loop)
{
	struct resolver *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->loop = loop;
	LIST_INIT(&r->running);
	LIST_INIT(&r->backend_running);
	SLIST_INIT(&r->done);
	TAILQ_INIT(&r->cache);
	pthread_mutex_init(&r->lock, NULL);
	ev_async_init(&r->wake, resolver_on_wake);
	ev_async_start(loop, &r->wake);
	ev_unref(loop); /* an idle resolver must not keep the loop alive */
	return r;
}

/* Cancels the backend's lookups; with fail, their queries end with EAI_AGAIN. */
static void backend_drop(struct resolver *r, bool fail)
{
	struct resolve_req *q;

	while ((q = LIST_FIRST(&r->backend_running))) {
		LIST_REMOVE(q, link);
		r->cancel(r->backend_ctx, q->bh);
		if (fail && q->cb)
			q->cb(q->arg, EAI_AGAIN, &q->ans.addr[0]);
		free(q);
	}
}

void resolver_set_backend(struct resolver *r, resolve_start_fn start, resolve_cancel_fn cancel,
			  void *ctx)
{
	backend_drop(r, true);
	r->start = start;
	r->cancel = cancel;
	r->backend_ctx = ctx;
}

void resolver_set_on_answer(struct resolver *r, resolve_answer_fn fn, void *ctx)
{
	r->on_answer = fn;
	r->on_answer_ctx = ctx;
}

void resolver_free(struct resolver *r)
{
	struct resolve_req *q;
	struct cache_entry *e;

	if (!r)
		return;
	backend_drop(r, false);
	while ((q = LIST_FIRST(&r->running))) {
		LIST_REMOVE(q, link);
		pthread_join(q->thread, NULL);
	}
	/* Joined threads put their requests on `done`; drop them without callbacks. */
	while ((q = SLIST_FIRST(&r->done))) {
		SLIST_REMOVE_HEAD(&r->done, done_link);
		free(q);
	}
	while ((e = TAILQ_FIRST(&r->cache)))
		cache_unlink(r, e);
	ev_ref(r->loop);
	ev_async_stop(r->loop, &r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static int query(struct resolver *r, bool system, const char *host, uint16_t port,
		 struct sockaddr_storage *out, resolve_cb cb, void *arg, struct resolve_req **req)
{
	struct resolve_req *q;
	int rc;

	if (net_pton(host, port, out) == 0)
		return 1;
	if (cache_get(r, host, out)) {
		set_port(out, port);
		return 1;
	}
	if (strlen(host) >= sizeof(q->host)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		return -1;
	q->r = r;
	strcpy(q->host, host);
	q->port = port;
	q->cb = cb;
	q->arg = arg;
	if (!system && r->start) {
		q->bh = r->start(r->backend_ctx, q->host, backend_done, q);
		if (q->bh) {
			LIST_INSERT_HEAD(&r->backend_running, q, link);
			*req = q;
			return 0;
		}
		if (errno != ENOENT) {
			free(q);
			return -1;
		}
	}
	LIST_INSERT_HEAD(&r->running, q, link);
	rc = pthread_create(&q->thread, NULL, resolve_thread, q);
	if (rc != 0) {
		LIST_REMOVE(q, link);
		free(q);
		errno = rc;
		return -1;
	}
	*req = q;
	return 0;
}

int resolver_query(struct resolver *r, const char *host, uint16_t port, struct sockaddr_storage *out,
		   resolve_cb cb, void *arg, struct resolve_req **req)
{
	return query(r, false, host, port, out, cb, arg, req);
}

int resolver_query_system(struct resolver *r, const char *host, uint16_t port,
			  struct sockaddr_storage *out, resolve_cb cb, void *arg,
			  struct resolve_req **req)
{
	return query(r, true, host, port, out, cb, arg, req);
}

void resolver_cancel(struct resolve_req *req)
{
	if (req)
		req->cb = NULL;
}
