/* redirect.c -- redirect mode capture: accepts connections that nftables REDIRECTed to
 * our listener, learns each one's original destination (SO_ORIGINAL_DST) and hands it
 * to the relay with a socket-backed client side. With redirect.method tproxy the
 * listeners for this machine's connections are transparent, nftables TPROXYs to them,
 * and the original destination is the accepted socket's own local address. */
#include "capture/redirect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/config.h"
#include "capture/gateway.h"
#include "base/log.h"
#include "base/net.h"
#include "relay/relay.h"
#include "base/util.h"

#define MAX_LISTENERS 4 /* the address, its IPv6 twin, and the gateway's wildcards */
#define ACCEPT_BURST 64
#define ACCEPT_PAUSE 0.5 /* seconds to stop accepting when out of descriptors */

struct listener {
	struct redirect *rd;
	int fd;
	ev_io io;
	struct sockaddr_storage addr;
	bool lan_only; /* opened for the gateway: gateway.lan and loopback peers only */
	bool transparent; /* TPROXY feeds it: the destination is the local address */
};

struct redirect {
	struct ev_loop *loop;
	struct relay *relay;
	struct listener l[MAX_LISTENERS];
	int n;
	ev_timer pause;
	struct cidr *lan; /* gateway.lan, for the lan_only listeners */
	size_t n_lan;
};

/* ---- the client side of a redirected connection: its socket ---------- */

/* One redirected connection's client side, owned here and freed by sock_close. */
struct sock_client {
	struct ev_loop *loop;
	int fd;
	ev_io io;
	struct session *s; /* from relay_open's return */
};

static ssize_t sock_read(void *c, void *buf, size_t cap)
{
	return recv(((struct sock_client *)c)->fd, buf, cap, 0);
}

static ssize_t sock_write(void *c, const void *buf, size_t len)
{
	return send(((struct sock_client *)c)->fd, buf, len, MSG_NOSIGNAL);
}

static void sock_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sock_client *sc = container_of(w, struct sock_client, io);

	(void)loop;
	if (sc->s)
		relay_client_ready(sc->s, revents & EV_READ, revents & EV_WRITE);
}

static void sock_want(void *c, bool rd, bool wr)
{
	struct sock_client *sc = c;
	int events = (rd ? EV_READ : 0) | (wr ? EV_WRITE : 0);

	ev_io_stop(sc->loop, &sc->io);
	ev_io_set(&sc->io, sc->fd, events);
	if (events)
		ev_io_start(sc->loop, &sc->io);
}

static void sock_shutdown_write(void *c)
{
	shutdown(((struct sock_client *)c)->fd, SHUT_WR);
}

static void sock_close(void *c, bool reset)
{
	struct sock_client *sc = c;

	ev_io_stop(sc->loop, &sc->io);
	if (reset)
		net_close_reset(sc->fd);
	else
		close(sc->fd);
	free(sc);
}

static int sock_keepalive(void *c, const struct keepalive *ka)
{
	return net_set_keepalive(((struct sock_client *)c)->fd, ka->idle, ka->intvl, ka->cnt);
}

static const struct client_ops sock_client_ops = {
	.read = sock_read,
	.write = sock_write,
	.want = sock_want,
	.shutdown_write = sock_shutdown_write,
	.close = sock_close,
	.keepalive = sock_keepalive,
};

/* ---- accepting -------------------------------------------------------- */

static bool is_own_listener(const struct redirect *rd, const struct sockaddr_storage *a)
{
	for (int i = 0; i < rd->n; i++) {
		if (net_sockaddr_equal(&rd->l[i].addr, a))
			return true;
	}
	return false;
}

/* The destination the application asked for, and whether TPROXY brought the connection
 * (then that destination is its own local address: TPROXY changes no address); else it
 * was REDIRECTed and conntrack has it. TPROXY never takes a local destination (the rules
 * leave those alone), so on a transparent listener a local address at our port means a
 * connection sent here directly, or REDIRECTed (the gateway's LAN, to a wildcard
 * listener). 0 or -1 with errno. */
static int original_dst(const struct listener *l, int fd, struct sockaddr_storage *dst,
			bool *tproxied)
{
	socklen_t len = sizeof(*dst);

	*tproxied = false;
	if (l->transparent) {
		memset(dst, 0, sizeof(*dst));
		if (getsockname(fd, (struct sockaddr *)dst, &len) < 0)
			return -1;
		if (net_port(dst) != net_port(&l->addr) || !net_is_local_addr(dst)) {
			*tproxied = true;
			return 0;
		}
	}
	return net_original_dst(fd, dst);
}

/* Whether a is the accepted socket's own local address. */
static bool is_local_end(int fd, const struct sockaddr_storage *a)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	return getsockname(fd, (struct sockaddr *)&local, &len) == 0 &&
	       net_sockaddr_equal(&local, a);
}

static void redirect_accept_one(struct redirect *rd, struct listener *l, int fd,
				const struct sockaddr_storage *peer)
{
	struct sockaddr_storage dst;
	char pa[NET_ADDRSTRLEN], da[NET_ADDRSTRLEN], la[NET_ADDRSTRLEN], desc[200];
	struct sock_client *sc;
	struct session *s;
	struct target t;
	bool tproxied;

	net_ntop(peer, pa, sizeof(pa));
	net_ntop(&l->addr, la, sizeof(la));
	if (l->lan_only && !net_peer_allowed(peer, rd->lan, rd->n_lan)) {
		log_warn("%s -> %s: refused: the peer is outside gateway.lan", pa, la);
		net_close_reset(fd);
		return;
	}
	if (original_dst(l, fd, &dst, &tproxied) < 0) {
		log_warn("%s -> %s: refused: no original destination (not redirected?): %s", pa, la,
			 strerror(errno));
		net_close_reset(fd);
		return;
	}
	/* Not redirected: conntrack reports the connection's own destination (a TPROXYed
	 * one always has it as its local end). */
	if (is_own_listener(rd, &dst) || (!tproxied && is_local_end(fd, &dst))) {
		log_warn("%s -> %s: refused: the original destination is this listener (would loop)",
			 pa, la);
		net_close_reset(fd);
		return;
	}
	memset(&t, 0, sizeof(t));
	t.addr = dst;
	t.port = net_port(&dst);
	snprintf(desc, sizeof(desc), "%s -> %s [via %s]", pa, net_ntop(&dst, da, sizeof(da)), la);
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		log_error("%s: refused: out of memory", desc);
		net_close_reset(fd);
		return;
	}
	sc->loop = rd->loop;
	sc->fd = fd;
	ev_io_init(&sc->io, sock_io_cb, fd, 0);
	log_debug("%s: accepted", desc);
	/* NULL: it ended at once, and sock_close freed sc already. */
	s = relay_open(rd->relay, &sock_client_ops, sc, &t, desc);
	if (s)
		sc->s = s;
}

static void redirect_resume(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct redirect *rd = container_of(w, struct redirect, pause);

	(void)revents;
	for (int i = 0; i < rd->n; i++)
		ev_io_start(loop, &rd->l[i].io);
}

static void redirect_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = container_of(w, struct listener, io);
	struct redirect *rd = l->rd;

	(void)revents;
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			redirect_accept_one(rd, l, fd, &peer);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_error("accept: %s; pausing new connections for %.1f s", strerror(errno),
				  ACCEPT_PAUSE);
			for (int j = 0; j < rd->n; j++)
				ev_io_stop(loop, &rd->l[j].io);
			ev_timer_set(&rd->pause, ACCEPT_PAUSE, 0.);
			ev_timer_start(loop, &rd->pause);
		} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
			log_warn("accept: %s", strerror(errno));
		}
		return;
	}
}

/* shared: SO_REUSEPORT, for a loopback listener and its wildcard twin on one port.
 * transparent: IP_TRANSPARENT, for redirect.method tproxy. */
static int listener_open(struct redirect *rd, const struct sockaddr_storage *addr, bool shared,
			 bool lan_only, bool transparent, char *err, size_t errlen)
{
	struct listener *l = &rd->l[rd->n];
	char a[NET_ADDRSTRLEN];

	l->fd = net_listen_tcp_shared(addr, 1024, shared);
	if (l->fd < 0) {
		snprintf(err, errlen, "redirect: cannot listen on %s: %s",
			 net_ntop(addr, a, sizeof(a)), strerror(errno));
		return -1;
	}
	if (transparent && net_set_transparent(l->fd, addr->ss_family) < 0) {
		snprintf(err, errlen, "redirect: IP_TRANSPARENT on the listener %s (method tproxy): %s",
			 net_ntop(addr, a, sizeof(a)), strerror(errno));
		close(l->fd);
		return -1;
	}
	l->rd = rd;
	l->addr = *addr;
	l->lan_only = lan_only;
	l->transparent = transparent;
	ev_io_init(&l->io, redirect_accept_cb, l->fd, EV_READ);
	ev_io_start(rd->loop, &l->io);
	rd->n++;
	return 0;
}

/* For 127.0.0.1 the IPv6 twin is ::1; for 0.0.0.0 it is ::; none otherwise. */
static bool ipv6_twin(const struct sockaddr_storage *v4, struct sockaddr_storage *v6)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)v4;
	uint32_t ip = ntohl(s4->sin_addr.s_addr);

	if (v4->ss_family != AF_INET || (ip != INADDR_LOOPBACK && ip != INADDR_ANY))
		return false;
	return net_pton(ip == INADDR_ANY ? "::" : "::1", ntohs(s4->sin_port), v6) == 0;
}

static bool is_loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24 == 127;
	return a->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

/* The gateway's wildcard listeners, one per family of the loopback ones open. */
static int gateway_listeners(struct redirect *rd, char *err, size_t errlen)
{
	int n = rd->n;

	for (int i = 0; i < n; i++) {
		const struct sockaddr_storage *a = &rd->l[i].addr;
		struct sockaddr_storage any;
		char msg[256];

		if (net_pton(a->ss_family == AF_INET ? "0.0.0.0" : "::", net_port(a), &any) < 0)
			continue;
		if (listener_open(rd, &any, true, true, false, msg, sizeof(msg)) == 0)
			continue;
		if (i > 0) { /* the IPv6 twin's */
			log_warn("%s; the LAN's IPv6 connections will not be redirected", msg);
			continue;
		}
		snprintf(err, errlen, "%s (for gateway.enable)", msg);
		return -1;
	}
	return 0;
}

int redirect_set_lan(struct redirect *rd, const struct config_gateway *gw)
{
	struct cidr *v = NULL;

	if (gw->lan.n) {
		v = malloc(gw->lan.n * sizeof(*v));
		if (!v)
			return -1;
		memcpy(v, gw->lan.v, gw->lan.n * sizeof(*v));
	}
	free(rd->lan);
	rd->lan = v;
	rd->n_lan = gw->lan.n;
	return 0;
}

struct redirect *redirect_new(struct ev_loop *loop, struct relay *relay,
			      const struct config_redirect *cfg, const struct config_gateway *gw,
			      char *err, size_t errlen)
{
	struct redirect *rd = calloc(1, sizeof(*rd));
	/* The LAN's connections arrive at a non-loopback address: a wildcard listener. */
	bool lan = gw && gw->enable && is_loopback(&cfg->listen);
	bool tproxy = cfg->method == REDIRECT_METHOD_TPROXY;
	struct sockaddr_storage v6;
	char msg[256];

	if (!rd) {
		snprintf(err, errlen, "redirect: out of memory");
		return NULL;
	}
	rd->loop = loop;
	rd->relay = relay;
	ev_timer_init(&rd->pause, redirect_resume, ACCEPT_PAUSE, 0.);
	if (lan && redirect_set_lan(rd, gw) < 0) {
		snprintf(err, errlen, "redirect: out of memory");
		goto fail;
	}
	if (listener_open(rd, &cfg->listen, lan, false, tproxy, err, errlen) < 0)
		goto fail;
	/* IPv6 is optional: a host without it still runs, for IPv4 only. */
	if (ipv6_twin(&cfg->listen, &v6) &&
	    listener_open(rd, &v6, lan, false, tproxy, msg, sizeof(msg)) < 0)
		log_warn("%s; IPv6 connections will not be redirected", msg);
	if (lan && gateway_listeners(rd, err, errlen) < 0)
		goto fail;
	return rd;
fail:
	redirect_free(rd);
	return NULL;
}

void redirect_free(struct redirect *rd)
{
	if (!rd)
		return;
	ev_timer_stop(rd->loop, &rd->pause);
	for (int i = 0; i < rd->n; i++) {
		ev_io_stop(rd->loop, &rd->l[i].io);
		close(rd->l[i].fd);
	}
	free(rd->lan);
	free(rd);
}

int redirect_has_ipv6(const struct redirect *rd)
{
	for (int i = 0; i < rd->n; i++) {
		if (rd->l[i].addr.ss_family == AF_INET6 && !rd->l[i].lan_only)
			return 1;
	}
	return 0;
}

int redirect_has_gateway_ipv6(const struct redirect *rd)
{
	for (int i = 0; i < rd->n; i++) {
		const struct sockaddr_storage *a = &rd->l[i].addr;

		if (a->ss_family == AF_INET6 &&
		    IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)a)->sin6_addr))
			return 1;
	}
	return 0;
}

int redirect_local_addrs(const struct redirect *rd, struct sockaddr_storage *out, int max)
{
	int k = 0;

	for (int i = 0; i < rd->n && k < max; i++) {
		if (!rd->l[i].lan_only)
			out[k++] = rd->l[i].addr;
	}
	return k;
}

unsigned redirect_port(const struct redirect *rd)
{
	return net_port(&rd->l[0].addr);
}

const char *redirect_describe(const struct redirect *rd, char *buf, size_t len)
{
	char a[NET_ADDRSTRLEN];
	size_t off = 0;

	buf[0] = 0;
	for (int i = 0; i < rd->n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "",
					net_ntop(&rd->l[i].addr, a, sizeof(a)));
	return buf;
}
