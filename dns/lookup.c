/* lookup.c -- the resolver backend for our own names (see lookup.h). A lookup reads
 * /etc/hosts (bounded) and answers from it when the name is there; otherwise it asks
 * the first server for A and AAAA at once and, when neither question got an answer
 * (no reply, SERVFAIL, REFUSED), the next server. The answer's addresses are A first,
 * then AAAA; its TTL is the smallest of the answer sections. Server sets are
 * reference-counted so a reload never frees one under a lookup. */
#include "dns/lookup.h"

#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "base/config.h"
#include "base/log.h"
#include "base/util.h"
#include "dns/lookup_parse.h"
#include "dns/msg.h"
#include "dns/sysresolv.h"
#include "dns/upstream.h"

#define HOSTS_PATH "/etc/hosts"

struct servers {
	unsigned refs;
	size_t n;
	struct dns_up *v[]; /* n */
};

struct job {
	struct dns_lookup *l;
	LIST_ENTRY(job) link; /* l->jobs */
	struct servers *s; /* a reference */
	size_t server; /* the one being asked */
	char host[256];
	resolve_done_fn done;
	void *done_arg;
	ev_timer start; /* deferred start: done never runs inside dns_lookup_start */
	struct dns_upq *uq[2]; /* A, AAAA */
	bool answered[2]; /* that question got NOERROR or NXDOMAIN */
	int pending;
	bool nxdomain;
	struct resolve_answer ans[2];
};

struct dns_lookup {
	struct ev_loop *loop;
	struct resolver *res;
	uint32_t fwmark;
	struct servers *s;
	LIST_HEAD(, job) jobs;
	bool warned;
};

static const uint16_t qtypes[2] = { DNS_T_A, DNS_T_AAAA };

static void servers_put(struct servers *s)
{
	if (!s || --s->refs)
		return;
	for (size_t i = 0; i < s->n; i++)
		s->v[i]->ops->free(s->v[i]);
	free(s);
}

/* The servers for cfg: dns.domestic, or resolv.conf's. */
static struct servers *servers_new(struct dns_lookup *l, const struct config *cfg, bool warn)
{
	struct host_port hp[SYSRESOLV_MAX];
	const struct host_port *v = cfg->dns.domestic.v;
	size_t n = cfg->dns.domestic.n, loop_n = 0;
	struct servers *s;

	if (!n) {
		n = sysresolv_servers(hp, &loop_n);
		v = hp;
		if (!n && warn && !l->warned) {
			l->warned = true;
			log_warn("dns: dns.domestic is empty and %s has no usable nameserver (%zu "
				 "loopback ones skipped): names snet-tun needs itself, such as "
				 "proxy.server, are looked up with getaddrinfo(), which may go "
				 "through snet-tun's own resolver", SYSRESOLV_PATH, loop_n);
		}
	}
	s = calloc(1, sizeof(*s) + n * sizeof(s->v[0]));
	if (!s)
		return NULL;
	s->refs = 1;
	for (size_t i = 0; i < n; i++) {
		s->v[i] = dns_up_direct_new(l->loop, l->res, &v[i], l->fwmark);
		if (!s->v[i]) {
			servers_put(s);
			return NULL;
		}
		s->n++;
	}
	return s;
}

struct dns_lookup *dns_lookup_new(struct ev_loop *loop, struct resolver *res,
				  const struct config *cfg, char *err, size_t errlen)
{
	struct dns_lookup *l = calloc(1, sizeof(*l));

	if (!l)
		goto oom;
	LIST_INIT(&l->jobs);
	l->loop = loop;
	l->res = res;
	l->fwmark = cfg->fwmark;
	l->s = servers_new(l, cfg, true);
	if (!l->s)
		goto oom;
	return l;
oom:
	free(l);
	snprintf(err, errlen, "dns: lookup: out of memory");
	return NULL;
}

int dns_lookup_reconfigure(struct dns_lookup *l, const struct config *cfg, char *err,
			   size_t errlen)
{
	struct servers *s;

	l->fwmark = cfg->fwmark;
	s = servers_new(l, cfg, false);
	if (!s) {
		snprintf(err, errlen, "dns: lookup: out of memory");
		return -1;
	}
	servers_put(l->s);
	l->s = s;
	return 0;
}

static void job_free(struct job *j)
{
	struct dns_lookup *l = j->l;

	ev_timer_stop(l->loop, &j->start);
	for (int k = 0; k < 2; k++)
		if (j->uq[k])
			j->s->v[j->server]->ops->cancel(j->uq[k]);
	LIST_REMOVE(j, link);
	servers_put(j->s);
	free(j);
}

/* Calls back once with what the job has, frees it. */
static void job_finish(struct job *j, int err)
{
	struct resolve_answer a = { .ttl = UINT32_MAX };
	resolve_done_fn done = j->done;
	void *arg = j->done_arg;

	for (int k = 0; k < 2; k++) {
		if (!j->ans[k].n)
			continue;
		for (size_t i = 0; i < j->ans[k].n && a.n < RESOLVE_ADDR_MAX; i++)
			a.addr[a.n++] = j->ans[k].addr[i];
		if (j->ans[k].ttl < a.ttl)
			a.ttl = j->ans[k].ttl;
	}
	if (!err && !a.n)
		err = j->nxdomain ? EAI_NONAME : EAI_NODATA;
	job_free(j);
	done(arg, err, &a);
}

static void ask(struct job *j);

static void on_answer(struct job *j, int k, int ok, const struct dns_msg *ans,
		      const char *why)
{
	char host[DNS_UP_DESC_MAX];

	j->uq[k] = NULL;
	j->pending--;
	snprintf(host, sizeof(host), "%s", j->s->v[j->server]->desc);
	if (ok == 0) {
		uint32_t ttl = UINT32_MAX;
		int rc = lookup_parse_answer(ans, qtypes[k], j->ans[k].addr, RESOLVE_ADDR_MAX,
					     &j->ans[k].n, &ttl);
		if (rc == DNS_R_NOERROR || rc == DNS_R_NXDOMAIN) {
			j->answered[k] = true;
			j->nxdomain |= rc == DNS_R_NXDOMAIN;
			j->ans[k].ttl = ttl;
		} else {
			log_debug("dns: lookup %s: %s answered rcode %d", j->host, host, rc);
		}
	} else {
		log_debug("dns: lookup %s: %s", j->host, why);
	}
	if (j->pending)
		return;
	if (j->answered[0] || j->answered[1]) {
		job_finish(j, 0);
		return;
	}
	if (++j->server < j->s->n) {
		ask(j);
		return;
	}
	log_warn("dns: looking %s up: no domestic resolver answered (last: %s)", j->host, host);
	job_finish(j, EAI_AGAIN);
}

/* One callback per question, so the job alone is the argument. */
static void answered_a(void *arg, int ok, const struct dns_msg *ans, const char *why)
{
	on_answer(arg, 0, ok, ans, why);
}

static void answered_aaaa(void *arg, int ok, const struct dns_msg *ans, const char *why)
{
	on_answer(arg, 1, ok, ans, why);
}

/* Asks server j->server both questions. */
static void ask(struct job *j)
{
	struct dns_up *u = j->s->v[j->server];
	struct dns_question q = { .qclass = DNS_C_IN };
	size_t nlen;

	if (dns_name_from_text(j->host, q.name, &nlen) < 0) {
		job_finish(j, EAI_NONAME);
		return;
	}
	q.name_len = (uint8_t)nlen;
	memset(j->answered, 0, sizeof(j->answered));
	memset(j->ans, 0, sizeof(j->ans));
	j->nxdomain = false;
	for (int k = 0; k < 2; k++) {
		q.qtype = qtypes[k];
		j->uq[k] = dns_up_query(u, &q, k ? answered_aaaa : answered_a, j);
		if (!j->uq[k]) {
			for (int m = 0; m < k; m++) {
				u->ops->cancel(j->uq[m]);
				j->uq[m] = NULL;
			}
			j->pending = 0;
			job_finish(j, EAI_MEMORY);
			return;
		}
	}
	j->pending = 2;
}

static void start_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *j = container_of(w, struct job, start);
	size_t len = 0;
	char *text;

	(void)loop;
	(void)revents;
	text = sysresolv_read(HOSTS_PATH, &len);
	if (text) {
		struct resolve_answer *a = &j->ans[0];
		a->n = lookup_parse_hosts(text, len, j->host, a->addr, RESOLVE_ADDR_MAX);
		a->ttl = RESOLVE_TTL_SYSTEM;
		free(text);
		if (a->n) {
			log_debug("dns: %s: from %s", j->host, HOSTS_PATH);
			job_finish(j, 0);
			return;
		}
	}
	ask(j);
}

void *dns_lookup_start(void *ctx, const char *host, resolve_done_fn done, void *done_arg)
{
	struct dns_lookup *l = ctx;
	struct job *j;

	if (!l->s->n) {
		errno = ENOENT; /* no server: getaddrinfo() */
		return NULL;
	}
	if (strlen(host) >= sizeof(j->host)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->l = l;
	j->s = l->s;
	j->s->refs++;
	strcpy(j->host, host);
	j->done = done;
	j->done_arg = done_arg;
	LIST_INSERT_HEAD(&l->jobs, j, link);
	ev_timer_init(&j->start, start_cb, 0., 0.);
	ev_timer_start(l->loop, &j->start);
	return j;
}

void dns_lookup_cancel(void *ctx, void *handle)
{
	(void)ctx;
	if (handle)
		job_free(handle);
}

void dns_lookup_free(struct dns_lookup *l)
{
	if (!l)
		return;
	while (!LIST_EMPTY(&l->jobs))
		job_free(LIST_FIRST(&l->jobs));
	servers_put(l->s);
	free(l);
}
