/* resolve.c -- host name resolution off the event loop.
 *
 * Each lookup runs getaddrinfo() (so /etc/hosts and nsswitch apply, as users expect
 * for a proxy server's name) in a worker thread; the finished request is queued
 * under a mutex and the loop is woken with ev_async. Answers are cached for
 * RESOLVE_TTL seconds in a small list so the proxy's name is not looked up per
 * connection. The loop thread owns every request except while its worker runs.
 */
#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "util.h"

#define RESOLVE_TTL 60.0
#define RESOLVE_CACHE_MAX 64

struct resolve_req {
	struct resolver *r;
	pthread_t thread;
	char host[256];
	uint16_t port;
	resolve_cb cb; /* NULL once cancelled */
	void *arg;
	int err;
	struct sockaddr_storage addr;
	struct resolve_req *next; /* in r->running or r->done */
};

struct cache_entry {
	char host[256];
	struct sockaddr_storage addr; /* port 0 */
	ev_tstamp expires;
	struct cache_entry *next;
};

struct resolver {
	struct ev_loop *loop;
	ev_async wake;
	pthread_mutex_t lock;
	struct resolve_req *running; /* loop thread only */
	struct resolve_req *done; /* under lock */
	struct cache_entry *cache; /* most recent first */
	size_t cache_len;
};

static void *resolve_thread(void *p)
{
	struct resolve_req *q = p;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;

	q->err = getaddrinfo(q->host, NULL, &hints, &res);
	if (q->err == 0) {
		memcpy(&q->addr, res->ai_addr, res->ai_addrlen);
		freeaddrinfo(res);
	}
	pthread_mutex_lock(&q->r->lock);
	q->next = q->r->done;
	q->r->done = q;
	pthread_mutex_unlock(&q->r->lock);
	ev_async_send(q->r->loop, &q->r->wake);
	return NULL;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static void cache_put(struct resolver *r, const char *host, const struct sockaddr_storage *addr)
{
	struct cache_entry *e, **pp;

	e = calloc(1, sizeof(*e));
	if (!e)
		return; /* the cache is an optimisation */
	strcpy(e->host, host);
	e->addr = *addr;
	set_port(&e->addr, 0);
	e->expires = ev_now(r->loop) + RESOLVE_TTL;
	e->next = r->cache;
	r->cache = e;
	if (++r->cache_len <= RESOLVE_CACHE_MAX)
		return;
	for (pp = &r->cache; (*pp)->next; pp = &(*pp)->next)
		;
	free(*pp);
	*pp = NULL;
	r->cache_len--;
}

static bool cache_get(struct resolver *r, const char *host, struct sockaddr_storage *out)
{
	struct cache_entry **pp, *e;

	for (pp = &r->cache; (e = *pp); pp = &e->next) {
		if (strcmp(e->host, host) != 0)
			continue;
		if (e->expires < ev_now(r->loop)) {
			*pp = e->next;
			free(e);
			r->cache_len--;
			return false;
		}
		*out = e->addr;
		return true;
	}
	return false;
}

static void resolver_on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct resolver *r = container_of(w, struct resolver, wake);
	struct resolve_req *list, *q, **pp;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&r->lock);
	list = r->done;
	r->done = NULL;
	pthread_mutex_unlock(&r->lock);

	while ((q = list)) {
		list = q->next;
		pthread_join(q->thread, NULL);
		for (pp = &r->running; *pp && *pp != q; pp = &(*pp)->next)
			;
		if (*pp)
			*pp = q->next;
		if (q->err == 0) {
			cache_put(r, q->host, &q->addr);
			set_port(&q->addr, q->port);
		}
		if (q->cb)
			q->cb(q->arg, q->err, &q->addr);
		free(q);
	}
}

struct resolver *resolver_new(struct ev_loop *loop)
{
	struct resolver *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->loop = loop;
	pthread_mutex_init(&r->lock, NULL);
	ev_async_init(&r->wake, resolver_on_wake);
	ev_async_start(loop, &r->wake);
	ev_unref(loop); /* an idle resolver must not keep the loop alive */
	return r;
}

void resolver_free(struct resolver *r)
{
	struct resolve_req *q;
	struct cache_entry *e;

	if (!r)
		return;
	while ((q = r->running)) {
		r->running = q->next;
		pthread_join(q->thread, NULL);
	}
	/* Joined threads put their requests on `done`; drop them without callbacks. */
	while ((q = r->done)) {
		r->done = q->next;
		free(q);
	}
	while ((e = r->cache)) {
		r->cache = e->next;
		free(e);
	}
	ev_ref(r->loop);
	ev_async_stop(r->loop, &r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int resolver_query(struct resolver *r, const char *host, uint16_t port, struct sockaddr_storage *out,
		   resolve_cb cb, void *arg, struct resolve_req **req)
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
	q->next = r->running;
	r->running = q;
	rc = pthread_create(&q->thread, NULL, resolve_thread, q);
	if (rc != 0) {
		r->running = q->next;
		free(q);
		errno = rc;
		return -1;
	}
	*req = q;
	return 0;
}

void resolver_cancel(struct resolve_req *req)
{
	if (req)
		req->cb = NULL;
}
