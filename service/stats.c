/* stats.c -- the statistics endpoint's HTTP side: the listener at stats.listen, who may
 * ask (loopback and stats.allow, else 403), the routes (GET/HEAD of /metrics,
 * /connections, /upstreams, /dns; 404 elsewhere, 405 for other methods), and the once-a-
 * second sampling of the relay's rates. The bodies are service/render.c's.
 *
 * libmicrohttpd runs without a thread of its own, driven from our libev loop in its
 * external epoll mode: MHD keeps every socket it has (the listener, the stats
 * connections) in one epoll set of its own, and that set's descriptor, readable whenever
 * one of them has an event, is the one ev_io we watch; an ev_timer follows
 * MHD_get_timeout for its idle timeouts. One watcher whatever the number of connections,
 * and nothing to re-register after each run (as MHD_get_fdset2 would need). It all runs
 * on the relay's thread, so the figures are read without locks; what keeps the relay
 * undisturbed is the bounds: few connections (in all and per address), small
 * per-connection memory, a timeout, and bodies of at most STATS_BODY_MAX bytes. */
#include "service/stats.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/log.h"
#include "base/net.h"
#include "base/util.h"
#include "dns/server.h"
#include "relay/relay.h"
#include "service/render.h"

#define STATS_CONN_LIMIT 16 /* stats connections at once */
#define STATS_PER_IP_LIMIT 8
#define STATS_CONN_TIMEOUT 10 /* seconds a stats connection may sit idle */
#define STATS_CONN_MEMORY (32 * 1024) /* MHD's per-connection pool (request head) */
#define STATS_SAMPLE_INTERVAL 1.0 /* the relay's rates: seconds between samples */

struct stats {
	struct ev_loop *loop;
	struct MHD_Daemon *mhd;
	ev_io io; /* MHD's epoll descriptor */
	ev_timer timeout; /* MHD's own timeouts */
	ev_timer sample; /* the relay's rates */
	struct stats_sources src;
	struct cidr_list allow; /* our copy of stats.allow */
};

static void stats_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("stats: %s", msg);
}

/* ---- answering -------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	/* takes body (malloc'ed) */
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	char *body = strdup(msg);

	if (!body)
		return MHD_NO;
	return reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

static bool client_allowed(const struct stats *st, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct sockaddr_storage peer;

	if (!ci || !ci->client_addr)
		return false;
	memset(&peer, 0, sizeof(peer));
	memcpy(&peer, ci->client_addr,
	       ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						      : sizeof(struct sockaddr_in));
	return net_peer_allowed(&peer, st->allow.v, st->allow.n);
}

static const struct route {
	const char *path, *type;
	char *(*render)(const struct stats_sources *src, size_t *len);
} routes[] = {
	{ "/metrics", "text/plain; version=0.0.4; charset=utf-8", render_metrics },
	{ "/connections", "application/json", render_connections },
	{ "/upstreams", "application/json", render_upstreams },
	{ "/dns", "application/json", render_dns },
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req)
{
	struct stats *st = cls;
	const struct route *rt = NULL;
	size_t len = 0;
	char *body;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)req;
	if (!client_allowed(st, conn))
		return reply_text(conn, MHD_HTTP_FORBIDDEN, "forbidden: not in stats.allow\n");
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(url, routes[i].path) == 0)
			rt = &routes[i];
	if (!rt)
		return reply_text(conn, MHD_HTTP_NOT_FOUND,
				  "not found: try /metrics, /connections, /upstreams or /dns\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	body = rt->render(&st->src, &len);
	if (!body) {
		log_warn("stats: %s: out of memory or larger than %u bytes", rt->path,
			 (unsigned)STATS_BODY_MAX);
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no memory for the answer\n");
	}
	return reply(conn, MHD_HTTP_OK, rt->type, body, len);
}

/* ---- driving MHD from the loop ---------------------------------------- */

static void stats_arm_timeout(struct stats *st)
{
	MHD_UNSIGNED_LONG_LONG ms;

	ev_timer_stop(st->loop, &st->timeout);
	if (MHD_get_timeout(st->mhd, &ms) == MHD_YES) {
		ev_timer_set(&st->timeout, (double)ms / 1000.0, 0.);
		ev_timer_start(st->loop, &st->timeout);
	}
}

static void stats_run(struct stats *st)
{
	if (MHD_run(st->mhd) != MHD_YES)
		log_debug("stats: MHD_run failed");
	stats_arm_timeout(st);
}

static void stats_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	stats_run(container_of(w, struct stats, io));
}

static void stats_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	stats_run(container_of(w, struct stats, timeout));
}

static void stats_sample_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stats *st = container_of(w, struct stats, sample);

	(void)loop;
	(void)revents;
	relay_sample_rates(st->src.relay);
}

/* ---- start and stop --------------------------------------------------- */

static int allow_copy(struct cidr_list *dst, const struct cidr_list *src)
{
	struct cidr *v = NULL;

	if (src->n && !(v = malloc(src->n * sizeof(*v))))
		return -1;
	if (src->n)
		memcpy(v, src->v, src->n * sizeof(*v));
	free(dst->v);
	dst->v = v;
	dst->n = src->n;
	return 0;
}

struct stats *stats_start(struct ev_loop *loop, const struct config *cfg,
			  const struct stats_sources *src, char *err, size_t errlen)
{
	struct stats *st = calloc(1, sizeof(*st));
	char la[NET_ADDRSTRLEN];
	const union MHD_DaemonInfo *di;
	int fd = -1;

	net_ntop(&cfg->stats.listen, la, sizeof(la));
	if (!st || allow_copy(&st->allow, &cfg->stats.allow) < 0) {
		snprintf(err, errlen, "stats: out of memory");
		goto fail;
	}
	st->loop = loop;
	st->src = *src;
	/* /connections names a connection opened by address after the name asked for it. */
	if (src->dns && dns_server_keep_names(src->dns, cfg->dns.cache_size ? cfg->dns.cache_size
									  : 10000) < 0) {
		snprintf(err, errlen, "stats: out of memory");
		goto fail;
	}
	fd = net_listen_tcp(&cfg->stats.listen, 16);
	if (fd < 0) {
		snprintf(err, errlen, "stats: cannot listen on %s: %s", la, strerror(errno));
		goto fail;
	}
	/* Replies to a client elsewhere must leave as our own traffic, not into the tun. */
	if (net_set_mark(fd, cfg->fwmark) < 0) {
		snprintf(err, errlen, "stats: cannot mark the listener on %s (SO_MARK): %s", la,
			 strerror(errno));
		goto fail;
	}
	st->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_SUPPRESS_DATE_NO_CLOCK, 0, NULL, NULL,
		on_request, st, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)STATS_CONN_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)STATS_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)STATS_CONN_TIMEOUT, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)STATS_CONN_MEMORY, MHD_OPTION_EXTERNAL_LOGGER, stats_mhd_log, NULL,
		MHD_OPTION_END);
	if (!st->mhd) {
		snprintf(err, errlen, "stats: cannot start the HTTP server on %s: %s", la,
			 strerror(errno));
		goto fail;
	}
	fd = -1; /* MHD's now: closed by MHD_stop_daemon */
	di = MHD_get_daemon_info(st->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di || di->epoll_fd < 0) {
		snprintf(err, errlen, "stats: the HTTP server has no epoll descriptor");
		goto fail;
	}
	ev_io_init(&st->io, stats_io_cb, di->epoll_fd, EV_READ);
	ev_io_start(loop, &st->io);
	ev_timer_init(&st->timeout, stats_timeout_cb, 0., 0.);
	ev_timer_init(&st->sample, stats_sample_cb, STATS_SAMPLE_INTERVAL, STATS_SAMPLE_INTERVAL);
	ev_timer_start(loop, &st->sample);
	stats_arm_timeout(st);
	log_info("stats: serving on http://%s/ (/metrics, /connections, /upstreams, /dns)", la);
	return st;
fail:
	if (fd >= 0)
		close(fd);
	stats_free(st);
	return NULL;
}

int stats_reconfigure(struct stats *st, const struct config *cfg, char *err, size_t errlen)
{
	if (allow_copy(&st->allow, &cfg->stats.allow) < 0) {
		snprintf(err, errlen, "stats: out of memory");
		return -1;
	}
	return 0;
}

void stats_free(struct stats *st)
{
	if (!st)
		return;
	if (st->loop) {
		ev_io_stop(st->loop, &st->io);
		ev_timer_stop(st->loop, &st->timeout);
		ev_timer_stop(st->loop, &st->sample);
	}
	if (st->mhd)
		MHD_stop_daemon(st->mhd);
	free(st->allow.v);
	free(st);
}
