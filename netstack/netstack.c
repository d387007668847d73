/* netstack.c -- owns lwIP: its init, the netif that writes to the tun, the packet input
 * path (validation, the "accept everything" trick), its timers, and the TCP client side
 * of tun-mode sessions (client_ops over a tcp_pcb).
 *
 * Accept everything with the unpatched Debian build: before each packet goes into
 * lwIP, the netif's address (IPv4, or IPv6 slot 0) is set to the packet's destination by
 * writing the field (netif_set_ipaddr would abort pcbs bound to the old address), so
 * lwIP takes the packet as its own; a TCP SYN to a port nobody listens on first gets a
 * listener bound to any address on that port (kept until exit). An accepted pcb's local
 * address and port are then the original destination. Replies carry the pcb's own
 * local address as source, so they leave with the right addresses whatever the netif's
 * field says at that moment.
 *
 * lwIP callbacks never call into the relay directly: they queue data and mark the
 * connection pending; after each batch of packets (and each timer run) the pending
 * connections are opened as sessions or told they became readable/writable. So the
 * relay never re-enters lwIP from inside lwIP, and tcp_abort is never called from a
 * callback.
 */
#include "netstack/netstack.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lwip/init.h>
#include <lwip/ip4_frag.h>
#include <lwip/ip6_frag.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/ip.h>
#include <lwip/ip_addr.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/tcp.h>
#include <lwip/timeouts.h>
#include <lwip/udp.h>

#include "base/log.h"
#include "base/net.h"
#include "relay/relay.h"
#include "relay/udp.h"
#include "tun/tun.h"
#include "netstack/packet.h"

#include <linux/virtio_net.h>

#define READ_BATCH 64 /* packets per tun readiness callback */
#define IN_MAX 65535 /* a TSO segment from the kernel can be this long, whatever the MTU */
#define RXQ_MAX 64 /* chains queued per connection before they are concatenated */
#define TIMER_INTERVAL 0.1 /* seconds between lwIP timer runs (TCP's fast timer is 250 ms) */

struct ns_tcp {
	struct netstack *ns;
	struct tcp_pcb *pcb; /* NULL once lwIP freed it (error) or we closed it */
	struct session *s; /* relay_open's: NULL until it returned */
	/* Received, not yet read by the relay (its window is not reopened): a ring of the
	 * chains lwIP delivered, so queueing is O(1) (pbuf_cat walks the whole chain). */
	struct pbuf *rxq[RXQ_MAX];
	unsigned rx_head, rx_count;
	u16_t rx_off; /* bytes of rxq[rx_head] already read */
	int err; /* errno after lwIP reported an error */
	bool rx_fin; /* the client's FIN arrived */
	bool want_rd, want_wr;
	bool ev_rd, ev_wr; /* what to tell the relay at the next flush */
	bool opened; /* relay_open was called */
	struct ns_tcp *pnext, *pprev; /* the pending list */
	bool pending;
	struct ns_tcp *next, *prev; /* all connections */
	char desc[120];
};

struct netstack {
	struct ev_loop *loop;
	struct relay *relay;
	int fd;
	unsigned mtu;
	struct netif netif;
	ev_io io;
	ev_timer timer;
	ev_prepare prepare; /* flushes what relay-side calls left pending */
	struct tcp_pcb **listeners; /* by port */
	struct udp_pcb **udp_pcbs; /* by port */
	struct udp_relay *udp;
	struct netstack_intercept icpt; /* what the capture takes (DNS) */
	uint8_t *udp_buf;
	struct ns_tcp *conns;
	struct ns_tcp *pending;
	uint8_t *outbuf; /* for the rare chained pbuf */
	uint8_t *inbuf; /* one packet read from the tun (vnet header + mtu bytes) */
	/* Outgoing TCP segments of one flow, contiguous, coalesced into one GSO packet
	 * (vnet header + IP + TCP + payloads) and written once: the kernel splits it. */
	struct {
		uint8_t *buf; /* TUN_VNET_HDR_LEN + 65535 */
		size_t len; /* IP packet bytes after the vnet header; 0: nothing pending */
		size_t l4, thl; /* TCP header offset and length */
		unsigned nseg;
		u16_t mss; /* payload of the first segment */
		u32_t next_seq;
		bool closed; /* a short segment ended it */
	} gso;
	struct netstack_stats stats;
};

static struct netstack *the_ns; /* lwIP is global; so is its one glue */

static void gso_flush(struct netstack *ns);

/* ---- pending notifications -------------------------------------------- */

static void pending_add(struct ns_tcp *c)
{
	struct netstack *ns = c->ns;

	if (c->pending)
		return;
	c->pending = true;
	c->pprev = NULL;
	c->pnext = ns->pending;
	if (ns->pending)
		ns->pending->pprev = c;
	ns->pending = c;
}

static void pending_del(struct ns_tcp *c)
{
	if (!c->pending)
		return;
	if (c->pprev)
		c->pprev->pnext = c->pnext;
	else
		c->ns->pending = c->pnext;
	if (c->pnext)
		c->pnext->pprev = c->pprev;
	c->pending = false;
}

static void notify(struct ns_tcp *c, bool rd, bool wr)
{
	c->ev_rd |= rd;
	c->ev_wr |= wr;
	pending_add(c);
}

/* ---- connection lifetime ----------------------------------------------- */

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
		c->rx_head = (c->rx_head + 1) % RXQ_MAX;
		c->rx_count--;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		ns->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ns->stats.tcp_active--;
	free(c);
}

/* ---- client_ops over a pcb --------------------------------------------- */

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
				c->rx_head = (c->rx_head + 1) % RXQ_MAX;
				c->rx_count--;
				c->rx_off = 0;
			}
		}
		if (c->pcb)
			tcp_recved(c->pcb, (u16_t)n); /* reopens the client's window */
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

/* lwIP's own keepalive (Debian builds it with LWIP_TCP_KEEPALIVE): when the probes go
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

/* ---- lwIP callbacks (no calls into the relay from here) -------------- */

static err_t tcp_recv_cb(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct ns_tcp *c = arg;

	(void)pcb;
	(void)err;
	if (!p) {
		c->rx_fin = true;
	} else if (c->rx_count < RXQ_MAX) {
		c->rxq[(c->rx_head + c->rx_count++) % RXQ_MAX] = p;
	} else {
		/* Full ring (many tiny segments): chain onto the newest. tot_len stays
		 * under 64 KiB because the window is. */
		pbuf_cat(c->rxq[(c->rx_head + c->rx_count - 1) % RXQ_MAX], p);
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

static void addr_to_sockaddr(const ip_addr_t *a, u16_t port, struct sockaddr_storage *ss)
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
	addr_to_sockaddr(&pcb->remote_ip, pcb->remote_port, &src);
	addr_to_sockaddr(&pcb->local_ip, pcb->local_port, &dst);
	snprintf(c->desc, sizeof(c->desc), "%s -> %s [tun]", net_ntop(&src, a, sizeof(a)),
		 net_ntop(&dst, b, sizeof(b)));
	tcp_arg(pcb, c);
	tcp_recv(pcb, tcp_recv_cb);
	tcp_sent(pcb, tcp_sent_cb);
	tcp_err(pcb, tcp_err_cb);
	tcp_nagle_disable(pcb);
	c->next = ns->conns;
	if (ns->conns)
		ns->conns->prev = c;
	ns->conns = c;
	ns->stats.tcp_accepted++;
	ns->stats.tcp_active++;
	pending_add(c); /* opened as a session at the next flush */
	return ERR_OK;
}

/* ---- after lwIP ran: open new sessions, deliver readiness ------------- */

static void flush(struct netstack *ns)
{
	struct ns_tcp *c;

	while ((c = ns->pending)) {
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
			addr_to_sockaddr(&c->pcb->local_ip, c->pcb->local_port, &t.addr);
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

/* ---- UDP ---------------------------------------------------------------- */

static void sockaddr_to_addr(const struct sockaddr_storage *ss, ip_addr_t *a, u16_t *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		IP_SET_TYPE_VAL(*a, IPADDR_TYPE_V6);
		memcpy(ip_2_ip6(a)->addr, &s6->sin6_addr, 16);
		ip6_addr_clear_zone(ip_2_ip6(a));
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		IP_SET_TYPE_VAL(*a, IPADDR_TYPE_V4);
		ip_2_ip4(a)->addr = s4->sin_addr.s_addr;
		*port = ntohs(s4->sin_port);
	}
}

static void udp_recv_cb(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
			u16_t port)
{
	struct netstack *ns = arg;
	struct sockaddr_storage client, dst;
	u16_t n;

	addr_to_sockaddr(addr, port, &client);
	addr_to_sockaddr(ip_current_dest_addr(), pcb->local_port, &dst);
	n = pbuf_copy_partial(p, ns->udp_buf, p->tot_len, 0);
	pbuf_free(p);
	if (ns->icpt.udp_port && ns->icpt.udp_port(ns->icpt.ctx, pcb->local_port)) {
		ns->icpt.udp(ns->icpt.ctx, &client, &dst, ns->udp_buf, n);
		return;
	}
	if (!udp_relay_enabled(ns->udp)) {
		ns->stats.dropped_in++;
		return;
	}
	udp_relay_send(ns->udp, &client, &dst, ns->udp_buf, n);
}

/* A reply from a flow: sent from the flow's original destination to the client. */
static void udp_reply(void *ctx, const struct sockaddr_storage *client,
		      const struct sockaddr_storage *from, const uint8_t *data, size_t len)
{
	struct netstack *ns = ctx;
	ip_addr_t dst, src;
	u16_t dport, sport;
	struct udp_pcb *pcb;
	struct pbuf *p;

	sockaddr_to_addr(client, &dst, &dport);
	sockaddr_to_addr(from, &src, &sport);
	pcb = ns->udp_pcbs[sport];
	if (!pcb || len > 0xFFFF - 8) {
		ns->stats.dropped_out++;
		return;
	}
	p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	if (!p) {
		ns->stats.dropped_out++;
		return;
	}
	memcpy(p->payload, data, len);
	if (udp_sendto_if_src(pcb, p, &dst, dport, &ns->netif, &src) != ERR_OK)
		ns->stats.dropped_out++;
	pbuf_free(p);
}

void netstack_udp_reply(struct netstack *ns, const struct sockaddr_storage *to,
			const struct sockaddr_storage *from, const uint8_t *data, size_t len)
{
	udp_reply(ns, to, from, data, len);
}

static bool ensure_udp_pcb(struct netstack *ns, u16_t port)
{
	struct udp_pcb *pcb;

	if (ns->udp_pcbs[port])
		return true;
	pcb = udp_new_ip_type(IPADDR_TYPE_ANY);
	if (!pcb)
		return false;
	ip_set_option(pcb, SOF_REUSEADDR);
	if (udp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		udp_remove(pcb);
		return false;
	}
	udp_recv(pcb, udp_recv_cb, ns);
	ns->udp_pcbs[port] = pcb;
	return true;
}

/* ---- packets in --------------------------------------------------------- */

static bool ensure_listener(struct netstack *ns, u16_t port)
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

/* lwIP hands a packet whose destination is loopback or equals one of the netif's
 * addresses to netif_loop_output(), which in this build (NO_SYS=0) queues it to the
 * TCP/IP thread we never start: LWIP_ASSERT("Invalid mbox") aborts the process. While
 * a packet is processed the netif holds its destination (so an answer to a source equal
 * to it must not happen: prepare_input drops those, and loopback sources); between
 * packets -- timers, relay writes, UDP replies -- the addresses are parked where no
 * peer can be: IPv4 255.255.255.255 (lwIP drops broadcast sources, we drop broadcast
 * destinations; ip4_route still picks the netif, its netmask being 0), IPv6 slot 0
 * invalid (not compared; ip6_route returns the only netif anyway). */
static void park_netif_addr(struct netstack *ns)
{
	ip_2_ip4(&ns->netif.ip_addr)->addr = IPADDR_BROADCAST;
	IP_SET_TYPE_VAL(ns->netif.ip_addr, IPADDR_TYPE_V4);
	ns->netif.ip6_addr_state[0] = IP6_ADDR_INVALID;
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

static bool tcp_seq_sane(const struct pkt_info *pi)
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
static void end_time_wait(const struct pkt_info *pi)
{
	for (struct tcp_pcb *pcb = tcp_tw_pcbs; pcb; pcb = pcb->next) {
		if (pcb_is(pcb, pi->v6, pi->src, pi->dst, pi->sport, pi->dport)) {
			tcp_abort(pcb); /* a TIME_WAIT pcb is just freed, no RST */
			return;
		}
	}
}

/* Classifies the packet (packet.c), points the netif at its destination, and prepares a
 * UDP pcb or, for a SYN, a listener for its port. false: drop the packet. */
static bool prepare_input(struct netstack *ns, const uint8_t *p, size_t n)
{
	struct pkt_info pi;

	if (pkt_classify(p, n, &pi) == PKT_DROP)
		return false;
	if (!pi.v6) {
		memcpy(&ip_2_ip4(&ns->netif.ip_addr)->addr, pi.dst, 4);
		IP_SET_TYPE_VAL(ns->netif.ip_addr, IPADDR_TYPE_V4);
	} else {
		memcpy(ip_2_ip6(&ns->netif.ip6_addr[0])->addr, pi.dst, 16);
		IP_SET_TYPE_VAL(ns->netif.ip6_addr[0], IPADDR_TYPE_V6);
		ip6_addr_clear_zone(ip_2_ip6(&ns->netif.ip6_addr[0]));
		ns->netif.ip6_addr_state[0] = IP6_ADDR_PREFERRED;
	}
	/* No pcb (UDP off for this proxy): lwIP answers port unreachable. */
	if (pi.udp && pi.dport && !ns->udp_pcbs[pi.dport] &&
	    (udp_relay_enabled(ns->udp) ||
	     (ns->icpt.udp_port && ns->icpt.udp_port(ns->icpt.ctx, pi.dport))) &&
	    !ensure_udp_pcb(ns, pi.dport))
		return false;
	if (pi.tcp) {
		bool syn = (pi.tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN;

		if (!(pi.tcp_flags & PKT_TCP_SYN) && !tcp_seq_sane(&pi))
			return false;
		if (syn)
			end_time_wait(&pi);
		/* SYN without ACK: a new connection; make sure its port has a listener. */
		if (syn && !ensure_listener(ns, pi.dport)) {
			log_warn("tun: cannot listen on port %u (out of memory, or the port is busy)",
				 (unsigned)pi.dport);
			return false;
		}
	}
	return true;
}

static void tun_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct netstack *ns = w->data;

	(void)loop;
	(void)revents;
	for (int i = 0; i < READ_BATCH; i++) {
		struct pbuf *p;
		ssize_t n;

		uint8_t *pkt = ns->inbuf + TUN_VNET_HDR_LEN;

		n = read(ns->fd, ns->inbuf, TUN_VNET_HDR_LEN + IN_MAX);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				log_warn("tun: read: %s", strerror(errno));
			break;
		}
		n -= TUN_VNET_HDR_LEN;
		if (n <= 0 || pkt_complete_csum(ns->inbuf, pkt, (size_t)n) < 0) {
			ns->stats.dropped_in++;
			continue;
		}
		ns->stats.packets_in++;
		ns->stats.bytes_in += (uint64_t)n;
		/* read() returns a longer packet's full length but copies only what fits. */
		if ((size_t)n > IN_MAX || !prepare_input(ns, pkt, (size_t)n)) {
			park_netif_addr(ns);
			ns->stats.dropped_in++;
			continue;
		}
		/* Exactly the packet's size: with MEM_LIBC_MALLOC pbuf_realloc cannot shrink
		 * a pbuf, and lwIP queues a pbuf per segment (out of order: unbounded in
		 * count), so an mtu-sized buffer per 1-byte segment is a 1500x amplifier. */
		p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM);
		if (!p) {
			park_netif_addr(ns);
			log_warn("tun: out of memory for a packet");
			break;
		}
		memcpy(p->payload, pkt, (size_t)n);
		if (ns->netif.input(p, &ns->netif) != ERR_OK) {
			ns->stats.dropped_in++;
			pbuf_free(p);
		}
		park_netif_addr(ns);
	}
	flush(ns);
	gso_flush(ns);
}

/* ---- packets out -------------------------------------------------------- */

static void tun_write(struct netstack *ns, uint8_t *vnet_pkt, size_t pkt_len)
{
	if (write(ns->fd, vnet_pkt, TUN_VNET_HDR_LEN + pkt_len) < 0) {
		/* A full tun queue drops the packet; TCP retransmits. */
		ns->stats.dropped_out++;
		return;
	}
	ns->stats.packets_out++;
	ns->stats.bytes_out += pkt_len;
}

/* Writes the pending coalesced segments: as they are when there is one, else as one GSO
 * packet whose lengths cover all of them, with the TCP checksum left to the kernel
 * (pseudo-header sum in place, VIRTIO_NET_HDR_F_NEEDS_CSUM). */
static void gso_flush(struct netstack *ns)
{
	uint8_t *pkt = ns->gso.buf + TUN_VNET_HDR_LEN;
	struct virtio_net_hdr h;
	size_t len = ns->gso.len, l4 = ns->gso.l4;
	bool v6 = (pkt[0] >> 4) == 6;

	if (!len)
		return;
	memset(&h, 0, sizeof(h));
	if (ns->gso.nseg > 1) {
		uint8_t *t = pkt + l4;
		size_t tcplen = len - l4;
		uint32_t sum;

		if (v6) {
			pkt[4] = (uint8_t)((len - 40) >> 8);
			pkt[5] = (uint8_t)(len - 40);
			sum = pkt_sum16(pkt + 8, 32, 0) + IPPROTO_TCP + (uint32_t)tcplen;
		} else {
			pkt[2] = (uint8_t)(len >> 8);
			pkt[3] = (uint8_t)len;
			pkt[10] = pkt[11] = 0;
			uint16_t c = (uint16_t)~pkt_fold(pkt_sum16(pkt, l4, 0));
			pkt[10] = (uint8_t)(c >> 8);
			pkt[11] = (uint8_t)c;
			sum = pkt_sum16(pkt + 12, 8, 0) + IPPROTO_TCP + (uint32_t)tcplen;
		}
		uint16_t ps = pkt_fold(sum);
		t[16] = (uint8_t)(ps >> 8);
		t[17] = (uint8_t)ps;
		h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		h.hdr_len = (uint16_t)(l4 + ns->gso.thl);
		h.gso_size = ns->gso.mss;
		h.csum_start = (uint16_t)l4;
		h.csum_offset = 16;
	}
	memcpy(ns->gso.buf, &h, sizeof(h));
	tun_write(ns, ns->gso.buf, len);
	ns->gso.len = 0;
	ns->gso.nseg = 0;
}

/* Where a TCP data segment's parts are, if it may be coalesced: IPv4 without options or
 * fragmenting, or IPv6 without extension headers; only ACK/PSH set; data present. */
static bool tcp_segment(const uint8_t *pkt, size_t len, size_t *l4, size_t *thl, size_t *plen)
{
	const uint8_t *t;

	if ((pkt[0] >> 4) == 4 && len >= 40 && pkt[0] == 0x45 && pkt[9] == IPPROTO_TCP &&
	    (pkt[6] & 0x3f) == 0 && pkt[7] == 0)
		*l4 = 20;
	else if ((pkt[0] >> 4) == 6 && len >= 60 && pkt[6] == IPPROTO_TCP)
		*l4 = 40;
	else
		return false;
	t = pkt + *l4;
	*thl = (size_t)(t[12] >> 4) * 4;
	if (*thl < 20 || *l4 + *thl >= len || (t[13] & ~0x18) != 0 || !(t[13] & 0x10))
		return false;
	*plen = len - *l4 - *thl;
	return true;
}

/* Queues a segment for coalescing, or writes the packet (after what is pending). */
static void output_bytes(struct netstack *ns, const uint8_t *pkt, size_t len)
{
	size_t l4, thl, plen;
	uint8_t *g = ns->gso.buf + TUN_VNET_HDR_LEN;

	if (tcp_segment(pkt, len, &l4, &thl, &plen)) {
		const uint8_t *t = pkt + l4;
		u32_t seq = (u32_t)t[4] << 24 | (u32_t)t[5] << 16 | (u32_t)t[6] << 8 | t[7];
		bool v6 = l4 == 40;

		if (ns->gso.len && !ns->gso.closed && ns->gso.l4 == l4 && ns->gso.thl == thl &&
		    seq == ns->gso.next_seq && plen <= ns->gso.mss &&
		    ns->gso.len + plen <= 65535 &&
		    !memcmp(g + (v6 ? 8 : 12), pkt + (v6 ? 8 : 12), v6 ? 32 : 8) &&
		    !memcmp(g + l4, t, 4)) {
			uint8_t *gt = g + l4;
			memcpy(g + ns->gso.len, pkt + l4 + thl, plen);
			ns->gso.len += plen;
			ns->gso.nseg++;
			ns->gso.next_seq = seq + (u32_t)plen;
			memcpy(gt + 8, t + 8, 4); /* the newest ACK and window */
			memcpy(gt + 14, t + 14, 2);
			gt[13] |= t[13]; /* PSH */
			if (plen < ns->gso.mss)
				ns->gso.closed = true;
			return;
		}
		gso_flush(ns);
		memcpy(g, pkt, len);
		ns->gso.len = len;
		ns->gso.l4 = l4;
		ns->gso.thl = thl;
		ns->gso.nseg = 1;
		ns->gso.mss = (u16_t)plen;
		ns->gso.next_seq = seq + (u32_t)plen;
		ns->gso.closed = false;
		return;
	}
	gso_flush(ns);
	memset(g - TUN_VNET_HDR_LEN, 0, TUN_VNET_HDR_LEN);
	memcpy(g, pkt, len);
	tun_write(ns, g - TUN_VNET_HDR_LEN, len);
}

static err_t output_packet(struct netif *netif, struct pbuf *p)
{
	struct netstack *ns = netif->state;
	size_t len = p->tot_len;

	if (len > 65535)
		return ERR_BUF;
	if (!p->next) {
		/* lwIP advertises its compile-time TCP_MSS (1460) in every SYN-ACK; with a
		 * larger tun MTU the kernel may send bigger segments, which lwIP takes in
		 * fine, so the option is raised: fewer packets per byte from the client. */
		pkt_raise_synack_mss(p->payload, p->len, ns->mtu);
		output_bytes(ns, p->payload, len);
	} else {
		pbuf_copy_partial(p, ns->outbuf, (u16_t)len, 0);
		output_bytes(ns, ns->outbuf, len);
	}
	return ERR_OK;
}

static err_t output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
	(void)dst;
	return output_packet(netif, p);
}

static err_t output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *dst)
{
	(void)dst;
	return output_packet(netif, p);
}

static err_t netif_init_cb(struct netif *netif)
{
	struct netstack *ns = netif->state;

	netif->name[0] = 's';
	netif->name[1] = 'n';
	netif->mtu = (u16_t)ns->mtu;
	netif->output = output4;
	netif->output_ip6 = output6;
	return ERR_OK;
}

/* ---- timers ---------------------------------------------------------- */

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct netstack *ns = w->data;

	(void)loop;
	(void)revents;
	sys_check_timeouts();
	flush(ns);
	gso_flush(ns);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct netstack *ns = w->data;

	(void)loop;
	(void)revents;
	if (ns->pending)
		flush(ns);
	gso_flush(ns); /* what relay-side writes produced since */
}

/* ---- lifetime -------------------------------------------------------- */

struct netstack *netstack_new(struct ev_loop *loop, int tun_fd, unsigned mtu, struct relay *relay,
			      const struct netstack_intercept *icpt, unsigned udp_timeout,
			      unsigned udp_max_flows, char *err, size_t errlen)
{
	static bool lwip_ready;
	struct netstack *ns;

	if (the_ns) {
		snprintf(err, errlen, "netstack: only one instance per process");
		return NULL;
	}
	if (mtu < 576 || mtu > 65535) {
		snprintf(err, errlen, "netstack: mtu %u out of range", mtu);
		return NULL;
	}
	ns = calloc(1, sizeof(*ns));
	if (!ns)
		goto oom;
	ns->listeners = calloc(65536, sizeof(*ns->listeners));
	ns->udp_pcbs = calloc(65536, sizeof(*ns->udp_pcbs));
	ns->outbuf = malloc(65536);
	ns->inbuf = malloc(TUN_VNET_HDR_LEN + IN_MAX);
	ns->gso.buf = malloc(TUN_VNET_HDR_LEN + 65535);
	ns->udp_buf = malloc(65536);
	if (!ns->listeners || !ns->udp_pcbs || !ns->outbuf || !ns->inbuf || !ns->gso.buf ||
	    !ns->udp_buf)
		goto oom;
	ns->udp = udp_relay_new(loop, relay, udp_timeout, udp_max_flows, udp_reply, ns);
	if (!ns->udp)
		goto oom;
	ns->loop = loop;
	ns->relay = relay;
	if (icpt)
		ns->icpt = *icpt;
	ns->fd = tun_fd;
	ns->mtu = mtu;
	if (!lwip_ready) {
		lwip_init();
		lwip_ready = true;
	}
	if (!netif_add_noaddr(&ns->netif, ns, netif_init_cb, ip_input)) {
		snprintf(err, errlen, "netstack: lwIP refused the interface");
		goto fail;
	}
	netif_set_default(&ns->netif);
	netif_set_link_up(&ns->netif);
	netif_set_up(&ns->netif);
	park_netif_addr(ns);
#if LWIP_IPV6_SEND_ROUTER_SOLICIT
	ns->netif.rs_count = 0; /* no router solicitations into the tun */
#endif
	ev_io_init(&ns->io, tun_read_cb, tun_fd, EV_READ);
	ns->io.data = ns;
	ev_io_start(loop, &ns->io);
	ev_timer_init(&ns->timer, timer_cb, TIMER_INTERVAL, TIMER_INTERVAL);
	ns->timer.data = ns;
	ev_timer_start(loop, &ns->timer);
	ev_unref(loop); /* the timer alone does not keep the loop running */
	ev_prepare_init(&ns->prepare, prepare_cb);
	ns->prepare.data = ns;
	ev_prepare_start(loop, &ns->prepare);
	ev_unref(loop);
	the_ns = ns;
	return ns;
oom:
	snprintf(err, errlen, "netstack: out of memory");
fail:
	if (ns) {
		udp_relay_free(ns->udp);
		free(ns->listeners);
		free(ns->udp_pcbs);
		free(ns->outbuf);
		free(ns->inbuf);
		free(ns->gso.buf);
		free(ns->udp_buf);
		free(ns);
	}
	return NULL;
}

void netstack_free(struct netstack *ns)
{
	if (!ns)
		return;
	ev_io_stop(ns->loop, &ns->io);
	ev_ref(ns->loop);
	ev_timer_stop(ns->loop, &ns->timer);
	ev_ref(ns->loop);
	ev_prepare_stop(ns->loop, &ns->prepare);
	while (ns->conns)
		conn_free(ns->conns, true);
	udp_relay_free(ns->udp);
	for (unsigned port = 0; port < 65536; port++) {
		if (ns->listeners[port])
			tcp_close(ns->listeners[port]);
		if (ns->udp_pcbs[port])
			udp_remove(ns->udp_pcbs[port]);
	}
	/* What lwIP holds that no session owns: connections still in the handshake or in
	 * TIME_WAIT, and fragments waiting for reassembly (aged out at once). */
	while (tcp_active_pcbs)
		tcp_abort(tcp_active_pcbs);
	while (tcp_tw_pcbs)
		tcp_abort(tcp_tw_pcbs);
	for (int i = 0; i <= IP_REASS_MAXAGE; i++)
		ip_reass_tmr();
	for (int i = 0; i <= IPV6_REASS_MAXAGE; i++)
		ip6_reass_tmr();
	netif_remove(&ns->netif);
	free(ns->listeners);
	free(ns->udp_pcbs);
	free(ns->udp_buf);
	free(ns->outbuf);
	free(ns->inbuf);
	free(ns->gso.buf);
	free(ns);
	the_ns = NULL;
}

const struct netstack_stats *netstack_stats(const struct netstack *ns)
{
	return &ns->stats;
}
