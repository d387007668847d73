/* udp_tproxy.c -- owns redirect mode's UDP sockets: the transparent sockets nftables
 * TPROXYs datagrams to (read in recvmmsg batches, each datagram's original destination
 * from IP_ORIGDSTADDR / IPV6_ORIGDSTADDR), the flow table they feed (relay/udp.c, the
 * one tun mode uses too), and the reply sockets: one per destination in use, transparent
 * and bound to that destination, so a reply's source is the address the application sent
 * to. A reply socket also receives: the kernel's TPROXY lookup finds a socket bound to a
 * datagram's destination before the listening one, so later datagrams to that destination
 * arrive on it, and it is read like the others. Replies the flow table makes in one
 * batch go out in one sendmmsg per reply socket. Reply sockets close when idle for the
 * flows' timeout, the least recently used first when there are max_flows of them. */
#include "capture/udp_tproxy.h"

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/log.h"
#include "base/net.h"
#include "base/util.h"
#include "relay/udp.h"

#define BATCH 16
#define DGRAM_MAX 65535
#define MAX_SOCKS 2 /* one per family */
#define SWEEP_INTERVAL 1.0
#define READ_ROUNDS 8 /* batches per wakeup, so one busy socket does not starve the loop */
#define REPLY_BYTES (4 * DGRAM_MAX) /* bytes of the replies held for one sendmmsg */

/* The bytes that name a destination (zeroed before filled), the reply sockets' key. */
struct dst_key {
	sa_family_t family;
	uint16_t port; /* network order */
	uint8_t addr[16];
};

struct rsock {
	struct udp_tproxy *t;
	struct dst_key key;
	UT_hash_handle hh; /* in t->rsocks */
	TAILQ_ENTRY(rsock) lru; /* most recently used first */
	struct sockaddr_storage addr;
	int fd;
	ev_io io;
	ev_tstamp last;
};

struct lsock {
	struct udp_tproxy *t;
	struct sockaddr_storage addr;
	int fd;
	ev_io io;
};

struct udp_tproxy {
	struct ev_loop *loop;
	struct udp_relay *udp;
	uint32_t fwmark;
	unsigned timeout, max_socks;
	struct lsock l[MAX_SOCKS];
	int n;
	struct rsock *rsocks; /* by destination */
	TAILQ_HEAD(rsock_lru, rsock) lru;
	size_t n_rsocks;
	ev_timer sweep;
	uint64_t dropped;
	bool warned_no_udp, warned_loop;
	/* recvmmsg's batch */
	uint8_t *bufs; /* BATCH x DGRAM_MAX */
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage from[BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(struct sockaddr_in6))];
		struct cmsghdr align;
	} ctl[BATCH];
	/* replies held for one sendmmsg: all from one reply socket (to_key), their bytes
	 * copied into out_bytes (REPLY_BYTES) */
	struct dst_key to_key;
	struct rsock *to;
	unsigned n_out;
	size_t out_used;
	uint8_t *out_bytes;
	struct mmsghdr out[BATCH];
	struct iovec out_iov[BATCH];
	struct sockaddr_storage out_addr[BATCH];
};

static void dst_key_set(struct dst_key *k, const struct sockaddr_storage *a)
{
	memset(k, 0, sizeof(*k));
	k->family = a->ss_family;
	if (a->ss_family == AF_INET6) {
		k->port = ((const struct sockaddr_in6 *)a)->sin6_port;
		memcpy(k->addr, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
	} else {
		k->port = ((const struct sockaddr_in *)a)->sin_port;
		memcpy(k->addr, &((const struct sockaddr_in *)a)->sin_addr, 4);
	}
}

/* A transparent UDP socket of a's family, marked, reporting original destinations, and
 * bound to a (any address: transparent). -1 with errno set. */
static int transparent_socket(const struct sockaddr_storage *a, uint32_t fwmark)
{
	int fd = net_socket(a->ss_family, SOCK_DGRAM), on = 1, saved;
	bool v6 = a->ss_family == AF_INET6;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    net_set_transparent(fd, a->ss_family) < 0 ||
	    setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_RECVORIGDSTADDR : IP_RECVORIGDSTADDR,
		       &on, sizeof(on)) < 0 ||
	    (v6 && setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
	    net_set_mark(fd, fwmark) < 0 ||
	    bind(fd, (const struct sockaddr *)a, net_sockaddr_len(a)) < 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* The one place a reply socket is closed. */
static void rsock_free(struct rsock *r)
{
	struct udp_tproxy *t = r->t;

	HASH_DEL(t->rsocks, r);
	TAILQ_REMOVE(&t->lru, r, lru);
	ev_io_stop(t->loop, &r->io);
	close(r->fd);
	t->n_rsocks--;
	free(r);
}

static void rsock_touch(struct rsock *r)
{
	r->last = ev_now(r->t->loop);
	LRU_TOUCH(&r->t->lru, r, lru);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents);

/* The reply socket for destination a, opened when there is none. NULL: logged. */
static struct rsock *rsock_get(struct udp_tproxy *t, const struct sockaddr_storage *a)
{
	struct dst_key key;
	struct rsock *r;
	char s[NET_ADDRSTRLEN];
	bool ok;

	dst_key_set(&key, a);
	HASH_FIND(hh, t->rsocks, &key, sizeof(key), r);
	if (r) {
		rsock_touch(r);
		return r;
	}
	if (t->n_rsocks >= t->max_socks && !TAILQ_EMPTY(&t->lru))
		rsock_free(TAILQ_LAST(&t->lru, rsock_lru));
	r = calloc(1, sizeof(*r));
	if (!r) {
		log_warn("udp reply from %s: out of memory", net_ntop(a, s, sizeof(s)));
		return NULL;
	}
	r->fd = transparent_socket(a, t->fwmark);
	if (r->fd < 0) {
		log_warn("udp reply from %s: transparent socket: %s", net_ntop(a, s, sizeof(s)),
			 strerror(errno));
		free(r);
		return NULL;
	}
	r->t = t;
	r->key = key;
	r->addr = *a;
	HASH_ADD_OK(ok, HASH_ADD(hh, t->rsocks, key, sizeof(r->key), r));
	if (!ok) {
		log_warn("udp reply from %s: out of memory", net_ntop(a, s, sizeof(s)));
		close(r->fd);
		free(r);
		return NULL;
	}
	TAILQ_INSERT_HEAD(&t->lru, r, lru);
	r->last = ev_now(t->loop);
	t->n_rsocks++;
	ev_io_init(&r->io, read_cb, r->fd, EV_READ);
	r->io.data = r;
	ev_io_start(t->loop, &r->io);
	return r;
}

/* Sends the replies held (one sendmmsg, again after a partial send); what the socket
 * refuses is dropped and counted, as a datagram is. */
static void reply_flush(void *ctx)
{
	struct udp_tproxy *t = ctx;
	unsigned off = 0;

	while (off < t->n_out) {
		int n = sendmmsg(t->to->fd, t->out + off, t->n_out - off, 0);

		if (n > 0) {
			off += (unsigned)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* the first one held cannot go (e.g. a full socket buffer, an address gone) */
		t->dropped++;
		log_debug("udp reply to %s: %s", net_ntop(&t->out_addr[off],
							   (char[NET_ADDRSTRLEN]){ 0 },
							   NET_ADDRSTRLEN), strerror(errno));
		off++;
	}
	t->n_out = 0;
	t->out_used = 0;
	t->to = NULL;
}

/* The flow table's reply: from the address the client sent to. Held for reply_flush,
 * which the flow table calls after each batch it read; replies from another address
 * (another reply socket) send those held first. */
static void reply_cb(void *ctx, const struct sockaddr_storage *client,
		     const struct sockaddr_storage *from, const uint8_t *data, size_t len)
{
	struct udp_tproxy *t = ctx;
	struct dst_key key;
	struct mmsghdr *m;

	dst_key_set(&key, from);
	if (t->n_out && (memcmp(&key, &t->to_key, sizeof(key)) || t->n_out == BATCH ||
			 t->out_used + len > REPLY_BYTES))
		reply_flush(t);
	if (!t->n_out) {
		/* rsock_get may close the least recently used reply socket: never one that
		 * holds replies, since there are none held now */
		t->to = rsock_get(t, from);
		if (!t->to) {
			t->dropped++;
			return;
		}
		t->to_key = key;
	}
	memcpy(t->out_bytes + t->out_used, data, len);
	t->out_iov[t->n_out].iov_base = t->out_bytes + t->out_used;
	t->out_iov[t->n_out].iov_len = len;
	t->out_addr[t->n_out] = *client;
	m = &t->out[t->n_out];
	memset(m, 0, sizeof(*m));
	m->msg_hdr.msg_name = &t->out_addr[t->n_out];
	m->msg_hdr.msg_namelen = net_sockaddr_len(client);
	m->msg_hdr.msg_iov = &t->out_iov[t->n_out];
	m->msg_hdr.msg_iovlen = 1;
	t->out_used += len;
	t->n_out++;
}

/* The datagram's original destination from its control messages. */
static bool orig_dst(struct msghdr *mh, struct sockaddr_storage *dst)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct sockaddr_in))) {
			memset(dst, 0, sizeof(*dst));
			memcpy(dst, CMSG_DATA(c), sizeof(struct sockaddr_in));
			return true;
		}
		if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct sockaddr_in6))) {
			memset(dst, 0, sizeof(*dst));
			memcpy(dst, CMSG_DATA(c), sizeof(struct sockaddr_in6));
			return true;
		}
	}
	return false;
}

/* Sent straight to one of our listening sockets (not TPROXYed): relaying it would
 * send it to ourselves. */
static bool is_own(const struct udp_tproxy *t, const struct sockaddr_storage *dst)
{
	for (int i = 0; i < t->n; i++) {
		if (net_sockaddr_equal(&t->l[i].addr, dst))
			return true;
	}
	return false;
}

static void drop(struct udp_tproxy *t, bool *warned, const char *what,
		 const struct sockaddr_storage *client, const struct sockaddr_storage *dst)
{
	char a[NET_ADDRSTRLEN], b[NET_ADDRSTRLEN];

	t->dropped++;
	if (*warned)
		return;
	*warned = true;
	log_warn("%s -> %s: udp dropped: %s (said once; counted as udp-dropped)",
		 net_ntop(client, a, sizeof(a)), net_ntop(dst, b, sizeof(b)), what);
}

static void read_batch(struct udp_tproxy *t, int fd)
{
	for (int round = 0; round < READ_ROUNDS; round++) {
		int n;

		for (int i = 0; i < BATCH; i++) {
			struct msghdr *mh = &t->msgs[i].msg_hdr;

			t->iov[i].iov_base = t->bufs + (size_t)i * DGRAM_MAX;
			t->iov[i].iov_len = DGRAM_MAX;
			memset(mh, 0, sizeof(*mh));
			mh->msg_name = &t->from[i];
			mh->msg_namelen = sizeof(t->from[i]);
			mh->msg_iov = &t->iov[i];
			mh->msg_iovlen = 1;
			mh->msg_control = t->ctl[i].buf;
			mh->msg_controllen = sizeof(t->ctl[i].buf);
		}
		n = recvmmsg(fd, t->msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("udp tproxy recvmmsg: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct msghdr *mh = &t->msgs[i].msg_hdr;
			struct sockaddr_storage dst;

			if ((mh->msg_flags & MSG_TRUNC) || !orig_dst(mh, &dst)) {
				t->dropped++;
				continue;
			}
			if (is_own(t, &dst)) {
				drop(t, &t->warned_loop, "sent to this listener itself (would loop)",
				     &t->from[i], &dst);
				continue;
			}
			if (!udp_relay_enabled(t->udp)) {
				drop(t, &t->warned_no_udp, "the upstream carries no UDP",
				     &t->from[i], &dst);
				continue;
			}
			udp_relay_send(t->udp, &t->from[i], &dst, t->iov[i].iov_base,
				       t->msgs[i].msg_len);
		}
		if (n < BATCH)
			return;
	}
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	/* w->data: the reply socket, or NULL for a listening one. */
	struct rsock *r = w->data;

	(void)loop;
	(void)revents;
	if (r)
		rsock_touch(r);
	read_batch(r ? r->t : container_of(w, struct lsock, io)->t, w->fd);
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct udp_tproxy *t = container_of(w, struct udp_tproxy, sweep);
	ev_tstamp now = ev_now(loop);
	struct rsock *r;

	(void)revents;
	while ((r = TAILQ_LAST(&t->lru, rsock_lru)) && now - r->last >= t->timeout)
		rsock_free(r);
}

struct udp_tproxy *udp_tproxy_new(struct ev_loop *loop, struct relay *relay,
				  const struct sockaddr_storage *addrs, int n, uint32_t fwmark,
				  unsigned timeout, unsigned max_flows, char *err, size_t errlen)
{
	struct udp_tproxy *t = calloc(1, sizeof(*t));
	char a[NET_ADDRSTRLEN];

	if (!t) {
		snprintf(err, errlen, "udp tproxy: out of memory");
		return NULL;
	}
	TAILQ_INIT(&t->lru);
	t->loop = loop;
	t->fwmark = fwmark;
	t->timeout = timeout;
	t->max_socks = max_flows;
	ev_timer_init(&t->sweep, sweep_cb, SWEEP_INTERVAL, SWEEP_INTERVAL);
	t->bufs = malloc((size_t)BATCH * DGRAM_MAX);
	t->out_bytes = malloc(REPLY_BYTES);
	t->udp = udp_relay_new(loop, relay, timeout, max_flows, reply_cb, t);
	if (!t->bufs || !t->out_bytes || !t->udp) {
		snprintf(err, errlen, "udp tproxy: out of memory");
		goto fail;
	}
	udp_relay_set_flush(t->udp, reply_flush);
	for (int i = 0; i < n && t->n < MAX_SOCKS; i++) {
		struct lsock *l = &t->l[t->n];

		l->fd = transparent_socket(&addrs[i], fwmark);
		if (l->fd < 0) {
			snprintf(err, errlen, "udp tproxy: transparent socket on %s: %s",
				 net_ntop(&addrs[i], a, sizeof(a)), strerror(errno));
			goto fail;
		}
		l->t = t;
		l->addr = addrs[i];
		ev_io_init(&l->io, read_cb, l->fd, EV_READ);
		l->io.data = NULL;
		ev_io_start(loop, &l->io);
		t->n++;
	}
	ev_timer_start(loop, &t->sweep);
	ev_unref(loop);
	return t;
fail:
	udp_tproxy_free(t);
	return NULL;
}

void udp_tproxy_free(struct udp_tproxy *t)
{
	struct rsock *r;

	if (!t)
		return;
	udp_relay_free(t->udp); /* its flows end first: no reply comes after this */
	while ((r = TAILQ_FIRST(&t->lru)))
		rsock_free(r);
	for (int i = 0; i < t->n; i++) {
		ev_io_stop(t->loop, &t->l[i].io);
		close(t->l[i].fd);
	}
	if (ev_is_active(&t->sweep)) {
		ev_ref(t->loop);
		ev_timer_stop(t->loop, &t->sweep);
	}
	free(t->bufs);
	free(t->out_bytes);
	free(t);
}

int udp_tproxy_enabled(struct udp_tproxy *t)
{
	return udp_relay_enabled(t->udp);
}

int udp_tproxy_has(const struct udp_tproxy *t, int family)
{
	for (int i = 0; i < t->n; i++) {
		if (t->l[i].addr.ss_family == family)
			return 1;
	}
	return 0;
}

void udp_tproxy_stats(const struct udp_tproxy *t, struct udp_tproxy_stats *out)
{
	const struct udp_stats *st = udp_relay_stats(t->udp);

	out->flows_active = st->flows_active;
	out->dgrams_up = st->dgrams_up;
	out->dgrams_down = st->dgrams_down;
	out->dropped = st->dropped + t->dropped;
	out->reply_socks = t->n_rsocks;
}
