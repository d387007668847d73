/* tcp.c -- the TCP client side of tun-mode sessions: one ns_tcp per connection lwIP
 * accepted, its client_ops over the tcp_pcb (reads copy out of the queued pbufs and only
 * then reopen the window; writes are tcp_write bounded by the send buffer), lwIP's TCP
 * callbacks, the listeners made per destination port, and the sanity checks on segments
 * for connections lwIP holds.
 *
 * lwIP callbacks never call into the relay directly: they queue data and mark the
 * connection pending; after each batch of packets (and each timer run) the pending
 * connections are opened as sessions or told they became readable/writable
 * (tcpglue_flush). So the relay never re-enters lwIP from inside lwIP, and tcp_abort is
 * never called from a callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/priv/tcp_priv.h>
#include <lwip/tcp.h>

#include "base/log.h"
#include "base/net.h"
#include "netstack/internal.h"
#include "netstack/packet.h"
#include "relay/relay.h"

#define RXQ_MIN 16 /* the ring's first size; it doubles when full */

struct ns_tcp {
	struct netstack *ns;
	struct tcp_pcb *pcb; /* NULL once lwIP freed it (error) or we closed it */
	struct session *s; /* relay_open's: NULL until it returned */
	/* Received, not yet read by the relay (its window is not reopened): a ring of the
	 * chains lwIP delivered, so queueing is O(1) (pbuf_cat walks the whole chain, and a
	 * chain's tot_len is 16 bits while the window may be larger). Allocated at the
	 * first data, it grows to what the window lets the client send unread. */
	struct pbuf **rxq;
	unsigned rx_cap, rx_head, rx_count; /* rx_cap: 0 or a power of 2 */
	u16_t rx_off; /* bytes of rxq[rx_head] already read */
	int err; /* errno after lwIP reported an error */
	bool rx_fin; /* the client's FIN arrived */
	bool want_rd, want_wr;
	bool ev_rd, ev_wr; /* what to tell the relay at the next flush */
	bool opened; /* relay_open was called */
	TAILQ_ENTRY(ns_tcp) plink; /* on ns->pending while `pending` */
	bool pending;
	LIST_ENTRY(ns_tcp) link; /* on ns->conns */
	char desc[120];
};

static void pending_add(struct ns_tcp *c)
{
	struct netstack *ns = c->ns;

	if (c->pending)
		return;
	c->pending = true;
	TAILQ_INSERT_TAIL(&ns->pending, c, plink);
}

static void pending_del(struct ns_tcp *c)
{
	if (!c->pending)
		return;
	TAILQ_REMOVE(&c->ns->pending, c, plink);
	c->pending = false;
}

static void notify(struct ns_tcp *c, bool rd, bool wr)
{
	c->ev_rd |= rd;
	c->ev_wr |= wr;
	pending_add(c);
}

static void conn_detach_pcb(struct ns_tcp *c)
{
	if (!c->pcb)
		return;
	tcp_arg(c->pcb, NULL);
	tcp_recv(c->pcb, NULL);
	tcp_sent(c->pcb, NULL);
	tcp_err(c->pcb, NULL);
	tcp_poll(c->pcb, NULL, 0);
}

/* Releases the connection: the pcb is closed (FIN) or reset, queued data freed. */
static void conn_free(struct ns_tcp *c, bool reset)
{
	struct netstack *ns = c->ns;

	pending_del(c);
	if (c->pcb) {
		conn_detach_pcb(c);
		if (reset || tcp_close(c->pcb) != ERR_OK)
			tcp_abort(c->pcb);
		c->pcb = NULL;
	}
	while (c->rx_count) {
		pbuf_free(c->rxq[c->rx_head]);
		c->rx_head = (c->rx_head + 1) & (c->rx_cap - 1);
		c->rx_count--;
	}
	free(c->rxq);
	LIST_REMOVE(c, link);
	ns->stats.tcp_active--;
	free(c);
}

static ssize_t ns_read(void *cp, void *buf, size_t cap)
{
	struct ns_tcp *c = cp;
	size_t n;

	if (c->rx_count) {
		n = 0;
		if (cap > 0xFFFF)
			cap = 0xFFFF;
		while (c->rx_count && n < cap) {
			struct pbuf *h = c->rxq[c->rx_head];
			size_t want = h->tot_len - c->rx_off;
			if (want > cap - n)
				want = cap - n;
			n += pbuf_copy_partial(h, (uint8_t *)buf + n, (u16_t)want, c->rx_off);
			c->rx_off = (u16_t)(c->rx_off + want);
			if (c->rx_off == h->tot_len) {
				pbuf_free(h);
				c->rx_head = (c->rx_head + 1) & (c->rx_cap - 1);
				c->rx_count--;
				c->rx_off = 0;
			}
		}
		if (c->pcb)
			tcp_recved(c->pcb, (u16_t)n); /* reopens the client's window */
		/* The relay reads a bounded amount per event, as from a socket, and expects
		 * to hear again while data is left (level-triggered): the window may let
		 * more arrive than it reads at once, and no new segment may follow. */
		if (c->rx_count)
			notify(c, true, false);
		return (ssize_t)n;
	}
	if (c->err) {
		errno = c->err;
		return -1;
	}
	if (c->rx_fin)
		return 0;
	errno = EAGAIN;
	return -1;
}

static ssize_t ns_write(void *cp, const void *buf, size_t len)
{
	struct ns_tcp *c = cp;
	size_t n;
	err_t e;

	if (!c->pcb) {
		errno = c->err ? c->err : EPIPE;
		return -1;
	}
	n = tcp_sndbuf(c->pcb);
	if (n > len)
		n = len;
	if (n > 0xFFFF) /* tcp_write's length is 16 bits; the send buffer may be larger */
		n = 0xFFFF;
	while (n > 0) {
		e = tcp_write(c->pcb, buf, (u16_t)n, TCP_WRITE_FLAG_COPY);
		if (e == ERR_OK)
			break;
		if (e != ERR_MEM) {
			errno = EPIPE;
			return -1;
		}
		n /= 2; /* out of queue slots: try a smaller piece */
	}
	if (n > 0)
		tcp_output(c->pcb);
	return (ssize_t)n;
}

static void ns_want(void *cp, bool rd, bool wr)
{
	struct ns_tcp *c = cp;

	c->want_rd = rd;
	c->want_wr = wr;
	/* Data (or FIN, or an error) that arrived before the relay asked. */
	if (rd && (c->rx_count || c->rx_fin || c->err))
		notify(c, true, false);
	if (wr && c->pcb && tcp_sndbuf(c->pcb) > 0)
		notify(c, false, true);
}

static void ns_shutdown_write(void *cp)
{
	struct ns_tcp *c = cp;

	if (c->pcb) {
		tcp_shutdown(c->pcb, 0, 1);
		tcp_output(c->pcb);
	}
}

static void ns_close(void *cp, bool reset)
{
	conn_free(cp, reset);
}

/* lwIP's own keepalive (LWIP_TCP_KEEPALIVE in both builds): when the probes go
 * unanswered, its slow timer resets and frees the pcb and reports ERR_ABRT. */
static int ns_keepalive(void *cp, const struct keepalive *ka)
{
	struct ns_tcp *c = cp;

	if (!c->pcb)
		return 0;
	ip_set_option(c->pcb, SOF_KEEPALIVE);
	c->pcb->keep_idle = ka->idle * 1000u;
	c->pcb->keep_intvl = ka->intvl * 1000u;
	c->pcb->keep_cnt = ka->cnt;
	return 0;
}

static const struct client_ops ns_client_ops = {
	.read = ns_read,
	.write = ns_write,
	.want = ns_want,
	.shutdown_write = ns_shutdown_write,
	.close = ns_close,
	.keepalive = ns_keepalive,
};

/* Doubles the receive ring (or makes the first one), keeping the chains in order. */
static bool rxq_grow(struct ns_tcp *c)
{
	unsigned cap = c->rx_cap ? c->rx_cap * 2 : RXQ_MIN;
	struct pbuf **q = malloc(cap * sizeof(*q));

	if (!q)
		return false;
	for (unsigned i = 0; i < c->rx_count; i++)
		q[i] = c->rxq[(c->rx_head + i) & (c->rx_cap - 1)];
	free(c->rxq);
	c->rxq = q;
	c->rx_cap = cap;
	c->rx_head = 0;
	return true;
}

static err_t tcp_recv_cb(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct ns_tcp *c = arg;

	(void)pcb;
	(void)err;
	if (!p) {
		c->rx_fin = true;
	} else if (c->rx_count < c->rx_cap || rxq_grow(c)) {
		c->rxq[(c->rx_head + c->rx_count++) & (c->rx_cap - 1)] = p;
	} else {
		/* Out of memory: chain onto the newest if its 16-bit length allows, else
		 * lwIP keeps the chain and offers it again from its timer. */
		struct pbuf *last = c->rx_count ? c->rxq[(c->rx_head + c->rx_count - 1) &
							 (c->rx_cap - 1)]
					       : NULL;

		if (!last || last->tot_len + p->tot_len > 0xFFFF)
			return ERR_MEM;
		pbuf_cat(last, p);
	}
	notify(c, true, false);
	return ERR_OK;
}

static err_t tcp_sent_cb(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct ns_tcp *c = arg;

	(void)pcb;
	(void)len;
	if (c->want_wr)
		notify(c, false, true);
	return ERR_OK;
}

static void tcp_err_cb(void *arg, err_t err)
{
	struct ns_tcp *c = arg;

	/* lwIP has freed the pcb already. Our own tcp_abort detaches this callback first,
	 * so ERR_ABRT is lwIP giving up on the peer: keepalive probes or retransmissions
	 * unanswered (or, rarely, a pcb taken back for a new connection). */
	c->pcb = NULL;
	c->err = err == ERR_RST ? ECONNRESET : err == ERR_ABRT ? ETIMEDOUT : EPIPE;
	notify(c, true, true);
}

void ns_addr_to_sockaddr(const ip_addr_t *a, u16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (IP_IS_V6(a)) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, ip_2_ip6(a)->addr, 16);
		s6->sin6_port = htons(port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = ip_2_ip4(a)->addr;
		s4->sin_port = htons(port);
	}
}

/* lwIP starts every connection with a 3 s retransmission timeout (and a deviation that
 * keeps it over 2 s for several round trips): one packet lost early in a transfer stalls
 * it that long. On the tun the round trip is well under a millisecond; like Linux, 200 ms
 * is the floor: the deviation starts there and the timeout follows the measured RTT. */
#define RTO_START_MS 200

static void rto_start(struct tcp_pcb *pcb)
{
	s16_t ticks = (s16_t)(RTO_START_MS / TCP_SLOW_INTERVAL);

	pcb->sv = ticks > 0 ? ticks : 1;
	pcb->rto = (s16_t)((pcb->sa >> 3) + pcb->sv);
}

static err_t tcp_accept_cb(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct netstack *ns = arg;
	struct sockaddr_storage src, dst;
	char a[64], b[64];
	struct ns_tcp *c;

	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("tun: out of memory accepting a connection");
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	c->ns = ns;
	c->pcb = pcb;
	ns_addr_to_sockaddr(&pcb->remote_ip, pcb->remote_port, &src);
	ns_addr_to_sockaddr(&pcb->local_ip, pcb->local_port, &dst);
	snprintf(c->desc, sizeof(c->desc), "%s -> %s [tun]", net_ntop(&src, a, sizeof(a)),
		 net_ntop(&dst, b, sizeof(b)));
	tcp_arg(pcb, c);
	tcp_recv(pcb, tcp_recv_cb);
	tcp_sent(pcb, tcp_sent_cb);
	tcp_err(pcb, tcp_err_cb);
	tcp_nagle_disable(pcb);
	rto_start(pcb);
	LIST_INSERT_HEAD(&ns->conns, c, link);
	ns->stats.tcp_accepted++;
	ns->stats.tcp_active++;
	pending_add(c); /* opened as a session at the next flush */
	return ERR_OK;
}

void tcpglue_flush(struct netstack *ns)
{
	struct ns_tcp *c;

	/* Each round takes the first again: the calls below add to the list and free
	 * connections (c itself among them). */
	while ((c = TAILQ_FIRST(&ns->pending))) {
		bool rd = c->ev_rd, wr = c->ev_wr;

		pending_del(c);
		c->ev_rd = c->ev_wr = false;
		if (!c->opened) {
			struct session *s;
			struct target t;

			c->opened = true;
			if (!c->pcb) { /* reset before it got a session */
				conn_free(c, false);
				continue;
			}
			memset(&t, 0, sizeof(t));
			ns_addr_to_sockaddr(&c->pcb->local_ip, c->pcb->local_port, &t.addr);
			t.port = c->pcb->local_port;
			if (ns->icpt.tcp)
				ns->icpt.tcp(ns->icpt.ctx, &t);
			/* When the session cannot start (or ended already) the relay has closed
			 * the client side, i.e. freed c. */
			s = relay_open(ns->relay, &ns_client_ops, c, &t, c->desc);
			if (s)
				c->s = s;
			continue;
		}
		if (!c->s)
			continue;
		/* The pcb is gone: the session ends whatever the relay waits for now (a
		 * half-closed one may wait for neither side). It frees c (ns_close). */
		if (!c->pcb && c->err) {
			relay_client_failed(c->s, c->err);
			continue;
		}
		relay_client_ready(c->s, rd && c->want_rd, wr && c->want_wr);
	}
}

bool tcpglue_listen(struct netstack *ns, u16_t port)
{
	struct tcp_pcb *pcb, *l;

	if (ns->listeners[port])
		return true;
	pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (!pcb)
		return false;
	ip_set_option(pcb, SOF_REUSEADDR);
	if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		tcp_abort(pcb);
		return false;
	}
	l = tcp_listen_with_backlog(pcb, 255);
	if (!l) {
		tcp_abort(pcb);
		return false;
	}
	tcp_arg(l, ns);
	tcp_accept(l, tcp_accept_cb);
	ns->listeners[port] = l;
	ns->stats.listeners++;
	return true;
}

/* lwIP 2.1.3's tcp_receive() asserts (aborts) when a segment's sequence number is about
 * 2^31 away from the connection's rcv_nxt: its "between" test wraps and the trim offset
 * is then "insane". No real peer sends that, so such a segment is dropped here, after
 * finding its connection the way tcp_input() will (a walk of the active list). */
static bool pcb_is(const struct tcp_pcb *pcb, bool v6, const uint8_t *src, const uint8_t *dst,
		   u16_t sport, u16_t dport)
{
	if (pcb->remote_port != sport || pcb->local_port != dport ||
	    IP_IS_V6_VAL(pcb->remote_ip) != v6)
		return false;
	if (v6)
		return !memcmp(ip_2_ip6(&pcb->remote_ip)->addr, src, 16) &&
		       !memcmp(ip_2_ip6(&pcb->local_ip)->addr, dst, 16);
	return !memcmp(&ip_2_ip4(&pcb->remote_ip)->addr, src, 4) &&
	       !memcmp(&ip_2_ip4(&pcb->local_ip)->addr, dst, 4);
}

bool tcpglue_seq_sane(const struct pkt_info *pi)
{
	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
		if (!pcb_is(pcb, pi->v6, pi->src, pi->dst, pi->sport, pi->dport))
			continue;
		s32_t d = (s32_t)(pi->seq - pcb->rcv_nxt);
		return d > -0x10000000 && d < 0x10000000;
	}
	return true;
}

/* A SYN for a connection lwIP still holds in TIME_WAIT (we closed first, and the kernel
 * reuses ports in sequence) would only be answered with an ACK, and the client would
 * stall in SYN_SENT: the kernel side is long closed, so end the TIME_WAIT at once. */
void tcpglue_end_time_wait(const struct pkt_info *pi)
{
	for (struct tcp_pcb *pcb = tcp_tw_pcbs; pcb; pcb = pcb->next) {
		if (pcb_is(pcb, pi->v6, pi->src, pi->dst, pi->sport, pi->dport)) {
			tcp_abort(pcb); /* a TIME_WAIT pcb is just freed, no RST */
			return;
		}
	}
}

void tcpglue_count(struct netstack *ns)
{
	uint64_t n = 0, tw = 0, unsent = 0, unacked = 0, persist = 0;

	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
		n++;
		unsent += pcb->unsent != NULL;
		unacked += pcb->unacked != NULL;
		persist += pcb->persist_backoff > 0;
	}
	for (struct tcp_pcb *pcb = tcp_tw_pcbs; pcb; pcb = pcb->next)
		tw++;
	ns->stats.tcp_pcbs = n;
	ns->stats.tcp_time_wait = tw;
	ns->stats.tcp_unsent = unsent;
	ns->stats.tcp_unacked = unacked;
	ns->stats.tcp_persist = persist;
}

void tcpglue_free_all(struct netstack *ns)
{
	struct ns_tcp *c;

	while ((c = LIST_FIRST(&ns->conns)))
		conn_free(c, true);
	for (unsigned port = 0; port < 65536; port++) {
		if (ns->listeners[port])
			tcp_close(ns->listeners[port]);
		ns->listeners[port] = NULL;
	}
	/* What lwIP holds that no session owns: connections still in the handshake or in
	 * TIME_WAIT. */
	while (tcp_active_pcbs)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
}
