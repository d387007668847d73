/* udp.c -- owns UDP flows: the table keyed by (client, destination), each flow's marked
 * upstream socket, wrapping/unwrapping through the proxy's UDP ops, idle expiry (one
 * sweep timer), the bound on their number (least recently used goes first), and the
 * one place a flow is freed (flow_free). */
#include "relay/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <ev.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/net.h"
#include "relay/relay.h"
#include "base/resolve.h"

#define DGRAM_MAX 65535
#define READ_BATCH 16 /* datagrams per recvmmsg on a flow's upstream socket */
#define READ_ROUNDS 4 /* recvmmsg calls per wakeup of one flow */
#define SWEEP_INTERVAL 1.0
#define QUEUE_MAX 64 /* datagrams held per flow while its upstream is set up */
#define QUEUE_BYTES 65536 /* and at most this many bytes */

/* One side of a flow's key: only the bytes that name the address, so two equal
 * addresses are equal keys (the struct is zeroed before it is filled). */
struct flow_addr {
	sa_family_t family;
	uint16_t port; /* network order */
	uint8_t addr[16]; /* 4 bytes for AF_INET, the rest zero */
};

struct flow_key {
	struct flow_addr client, dst;
};

struct flow {
	struct udp_relay *u;
	struct flow_key key;
	UT_hash_handle hh; /* in u->flows */
	TAILQ_ENTRY(flow) lru; /* in u->lru, most recent first */
	struct sockaddr_storage client, dst;
	struct proxy_inst *proxy; /* a reference: the proxy this flow started with */
	int fd;
	ev_io io;
	ev_tstamp last;
	struct resolve_req *rreq;
	/* datagrams waiting while the upstream is being set up (resolving, association) */
	uint8_t *queued[QUEUE_MAX];
	size_t queued_len[QUEUE_MAX];
	unsigned nqueued;
	size_t queued_bytes;
	bool warned;
	bool by_name; /* sent to the proxy by a fake-IP's name: replies come from elsewhere */
	char desc[128];
	/* PROXY_UDP_ASSOCIATE: the control stream that keeps the association alive, a relay
	 * session whose client side is this flow (ctl_ops); the flow ends with it */
	struct session *ctl;
	enum { CTL_NONE, CTL_OPENING, CTL_OPEN, CTL_ENDED } ctl_state;
	ev_timer ctl_end; /* 0 s: ends the flow after its association ended */
	bool freeing;
	struct sockaddr_storage server;
	/* for the stats view: payload bytes each way, rates sampled by udp_relay_sample */
	uint64_t id, bytes_up, bytes_down, rate_prev_up, rate_prev_down;
	float rate_up, rate_down;
	ev_tstamp started;
};

struct udp_relay {
	struct ev_loop *loop;
	struct relay *relay;
	unsigned timeout, max_flows;
	udp_reply_fn reply;
	udp_flush_fn flush;
	void *ctx;
	struct flow *flows; /* by (client, destination) */
	TAILQ_HEAD(flow_lru, flow) lru; /* most recently used first */
	ev_timer sweep;
	uint8_t *tmp, *out; /* scratch: DGRAM_MAX + PROXY_UDP_OVERHEAD each */
	/* a flow's recvmmsg batch: READ_BATCH buffers of DGRAM_MAX */
	uint8_t *rbufs;
	struct mmsghdr msgs[READ_BATCH];
	struct iovec iov[READ_BATCH];
	struct udp_stats stats;
};

static void flow_addr_set(struct flow_addr *k, const struct sockaddr_storage *a)
{
	k->family = a->ss_family;
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a;
		k->port = s6->sin6_port;
		memcpy(k->addr, &s6->sin6_addr, 16);
	} else if (a->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)a;
		k->port = s4->sin_port;
		memcpy(k->addr, &s4->sin_addr, 4);
	}
}

static void flow_key_set(struct flow_key *k, const struct sockaddr_storage *client,
			 const struct sockaddr_storage *dst)
{
	memset(k, 0, sizeof(*k));
	flow_addr_set(&k->client, client);
	flow_addr_set(&k->dst, dst);
}

static void flow_touch(struct flow *f)
{
	struct udp_relay *u = f->u;

	f->last = ev_now(u->loop);
	LRU_TOUCH(&u->lru, f, lru);
}

static void queue_clear(struct flow *f)
{
	for (unsigned i = 0; i < f->nqueued; i++)
		free(f->queued[i]);
	f->nqueued = 0;
	f->queued_bytes = 0;
}

/* Keeps a copy of a datagram until the upstream is ready; false when full. */
static bool queue_push(struct flow *f, const uint8_t *data, size_t len)
{
	uint8_t *c;

	if (f->nqueued >= QUEUE_MAX || f->queued_bytes + len > QUEUE_BYTES ||
	    !(c = malloc(len ? len : 1)))
		return false;
	f->queued_bytes += len;
	memcpy(c, data, len);
	f->queued[f->nqueued] = c;
	f->queued_len[f->nqueued++] = len;
	return true;
}

/* The one place a flow ends. */
static void flow_free(struct flow *f, const char *why)
{
	struct udp_relay *u = f->u;

	HASH_DEL(u->flows, f);
	TAILQ_REMOVE(&u->lru, f, lru);
	log_debug("%s: udp flow closed: %s", f->desc, why);
	f->freeing = true;
	if (f->fd >= 0) {
		ev_io_stop(u->loop, &f->io);
		close(f->fd);
	}
	if (f->ctl)
		relay_session_close(f->ctl); /* ctl_close runs, and leaves f alone */
	ev_timer_stop(u->loop, &f->ctl_end);
	resolver_cancel(f->rreq);
	queue_clear(f);
	proxy_inst_put(f->proxy);
	u->stats.flows_active--;
	free(f);
}

static void flow_drop(struct flow *f, const char *fmt, const char *detail)
{
	f->u->stats.dropped++;
	if (!f->warned) {
		f->warned = true;
		log_warn("%s: udp: %s%s", f->desc, fmt, detail ? detail : "");
	}
}

/* Whether a proxy's reply names the address the flow sends to (an IPv4-mapped IPv6
 * address counts as the IPv4 one). */
static bool reply_from_dst(const struct flow *f, const struct sockaddr_storage *from)
{
	struct flow_addr a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	flow_addr_set(&a, &f->dst);
	flow_addr_set(&b, from);
	if (b.family == AF_INET6 && a.family == AF_INET &&
	    IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)b.addr)) {
		b.family = AF_INET;
		memmove(b.addr, b.addr + 12, 4);
		memset(b.addr + 4, 0, 12);
	}
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* The proxy server's address did not take the flow: the resolver forgets it. */
static void forget_server(struct flow *f)
{
	if (f->server.ss_family)
		resolver_forget(relay_resolver(f->u->relay), f->proxy->cfg.server, &f->server);
}

/* The upstream's read error on a flow's socket (not EAGAIN). */
static void flow_read_error(struct flow *f, int err)
{
	/* e.g. ICMP port unreachable on a connected socket: keep the flow, but a proxy
	 * server that is not there any more is looked up again by the next flow. */
	log_debug("%s: udp recv: %s", f->desc, strerror(err));
	if (f->proxy->ops->udp != PROXY_UDP_TARGET &&
	    (err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH))
		forget_server(f);
}

/* One datagram from the flow's upstream socket: unwrapped and handed back as a reply. */
static void flow_reply(struct flow *f, uint8_t *in, size_t len)
{
	struct udp_relay *u = f->u;
	const uint8_t *data = in;
	char err[160];

	if (f->proxy->ops->udp != PROXY_UDP_TARGET) {
		struct sockaddr_storage from;
		if (f->proxy->ops->udp_unwrap(f->proxy->priv, in, len, u->out, &len, &from, err,
					      sizeof(err)) != PROXY_OK) {
			flow_drop(f, err, NULL);
			return;
		}
		/* The flow is (client, destination): a datagram from anyone else is not its
		 * reply. */
		if (!f->by_name && !reply_from_dst(f, &from)) {
			char a[NET_ADDRSTRLEN];
			flow_drop(f, "a reply from another address than the destination: ",
				  net_ntop(&from, a, sizeof(a)));
			return;
		}
		data = u->out;
	}
	flow_touch(f);
	u->stats.dgrams_down++;
	f->bytes_down += len;
	/* Replies always come from the address the client sent to. */
	u->reply(u->ctx, &f->client, &f->dst, data, len);
}

/* Reads the flow's upstream socket in recvmmsg batches (READ_ROUNDS of them at most, so
 * one busy flow does not starve the loop), then lets the reply side flush. */
static void flow_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct flow *f = w->data;
	struct udp_relay *u = f->u;

	(void)loop;
	(void)revents;
	for (int round = 0; round < READ_ROUNDS; round++) {
		/* (the headers, set up once in udp_relay_new, have no name or control buffer:
		 * recvmmsg changes only their lengths and flags) */
		int n = recvmmsg(f->fd, u->msgs, READ_BATCH, MSG_DONTWAIT, NULL);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				flow_read_error(f, errno);
			break;
		}
		for (int i = 0; i < n; i++)
			flow_reply(f, u->iov[i].iov_base, u->msgs[i].msg_len);
		if (n < READ_BATCH)
			break;
	}
	if (u->flush)
		u->flush(u->ctx);
}

static void flow_send(struct flow *f, const uint8_t *data, size_t len)
{
	struct udp_relay *u = f->u;
	const struct proxy_ops *ops = f->proxy->ops;
	size_t payload = len;
	char err[160];

	if (ops->udp == PROXY_UDP_SERVER || ops->udp == PROXY_UDP_ASSOCIATE) {
		struct target t;
		size_t out = 0;

		memset(&t, 0, sizeof(t));
		t.addr = f->dst;
		t.port = net_port(&f->dst);
		/* A fake-IP destination goes to the proxy by its name. */
		int named = relay_fake_name(u->relay, &f->dst, t.host, sizeof(t.host));
		if (named > 0) {
			flow_drop(f, "a fake-IP address that no name has now", NULL);
			return;
		}
		f->by_name = named == 0;
		if (ops->udp_wrap(f->proxy->priv, &t, data, len, u->out, &out, u->tmp, err,
				  sizeof(err)) != PROXY_OK) {
			flow_drop(f, err, NULL);
			return;
		}
		data = u->out;
		len = out;
	}
	if (send(f->fd, data, len, 0) < 0) {
		flow_drop(f, "send: ", strerror(errno));
		return;
	}
	u->stats.dgrams_up++;
	f->bytes_up += payload;
}

/* Opens the flow's socket towards addr and sends what was queued. */
static void flow_connect(struct flow *f, const struct sockaddr_storage *addr)
{
	struct udp_relay *u = f->u;
	char a[64], b[96];

	f->fd = net_socket(addr->ss_family, SOCK_DGRAM);
	if (f->fd < 0) {
		flow_drop(f, "socket: ", strerror(errno));
		goto done;
	}
	if (net_set_mark(f->fd, relay_fwmark(u->relay)) < 0)
		log_debug("%s: udp: SO_MARK: %s", f->desc, strerror(errno));
	if (connect(f->fd, (const struct sockaddr *)addr, net_sockaddr_len(addr)) < 0) {
		snprintf(b, sizeof(b), "connect to %s: ", net_ntop(addr, a, sizeof(a)));
		flow_drop(f, b, strerror(errno));
		close(f->fd);
		f->fd = -1;
		goto done;
	}
	ev_io_init(&f->io, flow_read_cb, f->fd, EV_READ);
	f->io.data = f;
	ev_io_start(u->loop, &f->io);
	for (unsigned i = 0; i < f->nqueued; i++)
		flow_send(f, f->queued[i], f->queued_len[i]);
done:
	queue_clear(f);
}

/* ---- SOCKS5-style associations: a control stream, then datagrams ---- */

/* The control stream is a relay session (resolve, connect, the proxy's start and
 * handshake with a udp_associate target); this flow is its client side, which has
 * nothing to send and takes whatever comes (nothing is expected on an open
 * association). When the handshake is done the datagram path opens to the relay address
 * the proxy named; when the session ends, so does the flow (deferred by a 0 s timer:
 * never inside the relay's call). */
static ssize_t ctl_read(void *c, void *buf, size_t cap)
{
	(void)c;
	(void)buf;
	(void)cap;
	errno = EAGAIN;
	return -1;
}

static ssize_t ctl_write(void *c, const void *buf, size_t len)
{
	(void)c;
	(void)buf;
	return (ssize_t)len;
}

static void ctl_want(void *c, bool rd, bool wr)
{
	(void)c;
	(void)rd;
	(void)wr;
}

static void ctl_ended(struct flow *f)
{
	if (f->freeing || f->ctl_state == CTL_ENDED)
		return;
	f->ctl_state = CTL_ENDED;
	ev_timer_start(f->u->loop, &f->ctl_end);
}

/* The proxy closed the association (its side of the stream). */
static void ctl_shutdown_write(void *c)
{
	ctl_ended(c);
}

static void ctl_close(void *c, bool reset)
{
	struct flow *f = c;

	(void)reset;
	f->ctl = NULL;
	ctl_ended(f);
}

static void ctl_established(void *c)
{
	struct flow *f = c;
	struct sockaddr_storage relay;

	if (relay_session_udp_relay_addr(f->ctl, &relay) < 0) {
		flow_drop(f, "udp association: no relay address", NULL);
		relay_session_close(f->ctl);
		return;
	}
	f->ctl_state = CTL_OPEN;
	f->server = relay;
	flow_connect(f, &relay);
}

static void ctl_end_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct flow *f = w->data;

	(void)loop;
	(void)revents;
	flow_free(f, f->fd >= 0 ? "the proxy closed the UDP association" : "association failed");
}

static const struct client_ops ctl_ops = {
	.read = ctl_read,
	.write = ctl_write,
	.want = ctl_want,
	.shutdown_write = ctl_shutdown_write,
	.close = ctl_close,
	.established = ctl_established,
};

static void ctl_open(struct flow *f)
{
	struct target t;
	char desc[160];

	memset(&t, 0, sizeof(t));
	t.udp_associate = true;
	t.addr.ss_family = f->dst.ss_family;
	snprintf(desc, sizeof(desc), "%s [udp association]", f->desc);
	f->ctl_state = CTL_OPENING;
	f->ctl = relay_open_via(f->u->relay, f->proxy, &ctl_ops, f, &t, desc);
}

/* The proxy server's address is known: open the datagram path. */
static void flow_begin(struct flow *f, const struct sockaddr_storage *server)
{
	f->server = *server;
	flow_connect(f, server);
}

static void flow_resolved(void *arg, int err, const struct sockaddr_storage *addr)
{
	struct flow *f = arg;

	f->rreq = NULL;
	if (err) {
		flow_drop(f, "cannot resolve the proxy server", NULL);
		queue_clear(f);
		return;
	}
	flow_begin(f, addr);
}

/* A flow through p (its reference becomes the flow's; dropped when NULL is returned). */
static struct flow *flow_new(struct udp_relay *u, const struct flow_key *key,
			     const struct sockaddr_storage *client, const struct sockaddr_storage *dst,
			     struct proxy_inst *p)
{
	struct flow *f;
	char a[64], b[64];
	bool ok;

	if (u->stats.flows_active >= u->max_flows && !TAILQ_EMPTY(&u->lru)) {
		u->stats.flows_evicted++;
		flow_free(TAILQ_LAST(&u->lru, flow_lru), "evicted (udp-max-flows reached)");
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		proxy_inst_put(p);
		return NULL;
	}
	f->key = *key;
	HASH_ADD_OK(ok, HASH_ADD(hh, u->flows, key, sizeof(f->key), f));
	if (!ok) {
		proxy_inst_put(p);
		free(f);
		return NULL;
	}
	f->u = u;
	f->fd = -1;
	ev_timer_init(&f->ctl_end, ctl_end_cb, 0., 0.);
	f->ctl_end.data = f;
	f->client = *client;
	f->dst = *dst;
	f->proxy = p;
	snprintf(f->desc, sizeof(f->desc), "%s -> %s", net_ntop(client, a, sizeof(a)),
		 net_ntop(dst, b, sizeof(b)));
	TAILQ_INSERT_HEAD(&u->lru, f, lru);
	f->last = f->started = ev_now(u->loop);
	f->id = relay_next_conn_id(u->relay);
	u->stats.flows_total++;
	u->stats.flows_active++;
	log_debug("%s: udp flow opened", f->desc);
	return f;
}

void udp_relay_send(struct udp_relay *u, const struct sockaddr_storage *client,
		    const struct sockaddr_storage *dst, const uint8_t *data, size_t len)
{
	struct sockaddr_storage addr;
	struct proxy_inst *p = NULL;
	struct flow_key key;
	struct flow *f;
	int rc;

	flow_key_set(&key, client, dst);
	HASH_FIND(hh, u->flows, &key, sizeof(key), f);
	/* A flow whose upstream went down moves with the client's next datagram. */
	if (f && (p = relay_proxy_instead(u->relay, f->proxy))) {
		log_info("%s: udp flow moves from %s (down) to %s", f->desc, f->proxy->cfg.name,
			 p->cfg.name);
		flow_free(f, "its upstream is down");
		f = NULL;
	}
	if (f) {
		flow_touch(f);
		if (f->fd >= 0)
			flow_send(f, data, len);
		else if (!(f->rreq || f->ctl_state == CTL_OPENING) ||
			 !queue_push(f, data, len)) /* queued: sent once the upstream is ready */
			flow_drop(f, "upstream not ready", NULL);
		return;
	}
	if (!p)
		p = relay_proxy_get(u->relay);
	f = p ? flow_new(u, &key, client, dst, p) : NULL;
	if (!f) {
		u->stats.dropped++;
		log_debug("udp: no flow opened (no upstream is up, or out of memory)");
		return;
	}
	if (f->proxy->ops->udp == PROXY_UDP_TARGET) {
		flow_connect(f, dst);
		if (f->fd >= 0)
			flow_send(f, data, len);
		return;
	}
	if (!queue_push(f, data, len)) {
		flow_drop(f, "out of memory", NULL);
		return;
	}
	if (f->proxy->ops->udp == PROXY_UDP_ASSOCIATE) {
		ctl_open(f); /* the relay looks the proxy up */
		return;
	}
	rc = resolver_query(relay_resolver(u->relay), f->proxy->cfg.server, f->proxy->cfg.port,
			    &addr, flow_resolved, f, &f->rreq);
	if (rc == 1)
		flow_begin(f, &addr);
	else if (rc < 0)
		flow_resolved(f, 1, NULL);
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct udp_relay *u = w->data;
	ev_tstamp now = ev_now(loop);
	struct flow *f;

	(void)revents;
	while ((f = TAILQ_LAST(&u->lru, flow_lru)) && now - f->last >= u->timeout) {
		u->stats.flows_expired++;
		flow_free(f, "idle");
	}
}

struct udp_relay *udp_relay_new(struct ev_loop *loop, struct relay *relay, unsigned timeout,
				unsigned max_flows, udp_reply_fn reply, void *ctx)
{
	struct udp_relay *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	TAILQ_INIT(&u->lru);
	u->loop = loop;
	u->relay = relay;
	u->timeout = timeout;
	u->max_flows = max_flows;
	u->reply = reply;
	u->ctx = ctx;
	u->rbufs = malloc((size_t)READ_BATCH * DGRAM_MAX);
	u->tmp = malloc(DGRAM_MAX + PROXY_UDP_OVERHEAD);
	u->out = malloc(DGRAM_MAX + PROXY_UDP_OVERHEAD);
	if (!u->rbufs || !u->tmp || !u->out) {
		udp_relay_free(u);
		return NULL;
	}
	for (int i = 0; i < READ_BATCH; i++) {
		u->iov[i].iov_base = u->rbufs + (size_t)i * DGRAM_MAX;
		u->iov[i].iov_len = DGRAM_MAX;
		u->msgs[i].msg_hdr.msg_iov = &u->iov[i];
		u->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	ev_timer_init(&u->sweep, sweep_cb, SWEEP_INTERVAL, SWEEP_INTERVAL);
	u->sweep.data = u;
	ev_timer_start(loop, &u->sweep);
	ev_unref(loop);
	relay_attach_udp(relay, u);
	return u;
}

void udp_relay_free(struct udp_relay *u)
{
	struct flow *f;

	if (!u)
		return;
	if (u->relay)
		relay_detach_udp(u->relay, u);
	while ((f = TAILQ_FIRST(&u->lru)))
		flow_free(f, "shutting down");
	if (ev_is_active(&u->sweep)) {
		ev_ref(u->loop);
		ev_timer_stop(u->loop, &u->sweep);
	}
	free(u->rbufs);
	free(u->tmp);
	free(u->out);
	free(u);
}

void udp_relay_set_flush(struct udp_relay *u, udp_flush_fn flush)
{
	u->flush = flush;
}

int udp_relay_enabled(struct udp_relay *u)
{
	struct proxy_inst *p = relay_proxy_get(u->relay);
	int on = p && p->ops->udp != PROXY_UDP_NONE && p->cfg.udp;

	proxy_inst_put(p);
	return on;
}

const struct udp_stats *udp_relay_stats(const struct udp_relay *u)
{
	return &u->stats;
}

void udp_relay_sample(struct udp_relay *u, double since)
{
	ev_tstamp now = ev_now(u->loop), dt;
	struct flow *f;

	TAILQ_FOREACH(f, &u->lru, lru) {
		bool fresh = since <= 0 || f->started > since;

		dt = fresh ? now - f->started : now - since;
		if (dt > 0) {
			f->rate_up = (float)((double)(f->bytes_up - (fresh ? 0 : f->rate_prev_up)) / dt);
			f->rate_down =
				(float)((double)(f->bytes_down - (fresh ? 0 : f->rate_prev_down)) / dt);
		}
		f->rate_prev_up = f->bytes_up;
		f->rate_prev_down = f->bytes_down;
	}
}

void udp_relay_conns(const struct udp_relay *u, relay_conn_fn fn, void *ctx)
{
	const struct flow *f;
	char src[NET_ADDRSTRLEN], dst[NET_ADDRSTRLEN], host[256];

	TAILQ_FOREACH(f, &u->lru, lru) {
		struct relay_conn c = {
			.id = f->id,
			.proto = "udp",
			.src = net_ntop(&f->client, src, sizeof(src)),
			.dst = net_ntop(&f->dst, dst, sizeof(dst)),
			.dst_addr = &f->dst,
			.upstream = f->proxy->cfg.name[0] ? f->proxy->cfg.name : f->proxy->ops->name,
			.state = f->fd >= 0 ? "relay" : "dialing",
			.bytes_up = f->bytes_up,
			.bytes_down = f->bytes_down,
			.rate_up = f->rate_up,
			.rate_down = f->rate_down,
			.age_s = ev_now(u->loop) - f->started,
		};

		if (f->freeing)
			continue;
		/* A fake-IP destination: the name it stands for. */
		if (relay_fake_name(u->relay, &f->dst, host, sizeof(host)) == 0)
			c.host = host;
		fn(ctx, &c);
	}
}

void udp_relay_orphan(struct udp_relay *u)
{
	u->relay = NULL;
}
