/* netstack.c -- owns lwIP: its init, the netif that writes to the tun, the packet input
 * path (validation, the "accept everything" trick), its timers and the UDP pcbs. The TCP
 * client side of tun-mode sessions is in tcp.c, the output path (GSO) in gso.c, the
 * stateless packet code in packet.c.
 *
 * Accept everything with the unpatched Debian build: before each packet goes into
 * lwIP, the netif's address (IPv4, or IPv6 slot 0) is set to the packet's destination by
 * writing the field (netif_set_ipaddr would abort pcbs bound to the old address), so
 * lwIP takes the packet as its own; a TCP SYN to a port nobody listens on first gets a
 * listener bound to any address on that port (kept until exit). An accepted pcb's local
 * address and port are then the original destination. Replies carry the pcb's own
 * local address as source, so they leave with the right addresses whatever the netif's
 * field says at that moment.
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
#include <lwip/timeouts.h>
#include <lwip/udp.h>

#include "base/log.h"
#include "netstack/internal.h"
#include "netstack/packet.h"
#include "relay/udp.h"
#include "tun/tun.h"

#define READ_BATCH 64 /* packets per tun readiness callback */
/* The lwIP timer fires at lwIP's next deadline (sys_timeouts_sleeptime): every
 * TCP_TMR_INTERVAL while TCP pcbs need their timer (25 ms with the build from source, see
 * netstack/lwip/lwipopts.h), seldom when idle; IDLE_MAX when nothing is due. */
#define IDLE_MAX 60.0

static struct netstack *the_ns; /* lwIP is global; so is its one glue */

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

	ns_addr_to_sockaddr(addr, port, &client);
	ns_addr_to_sockaddr(ip_current_dest_addr(), pcb->local_port, &dst);
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

void netstack_on_gone(struct netstack *ns, void (*fn)(void *ctx, const char *why), void *ctx)
{
	ns->on_gone = fn;
	ns->gone_ctx = ctx;
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

		if (!(pi.tcp_flags & PKT_TCP_SYN) && !tcpglue_seq_sane(&pi))
			return false;
		if (syn)
			tcpglue_end_time_wait(&pi);
		/* SYN without ACK: a new connection; make sure its port has a listener. */
		if (syn && !tcpglue_listen(ns, pi.dport)) {
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
			if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOBUFS &&
			    errno != ENOMEM) {
				/* EBADFD: the device was deleted. Reading on would spin. */
				char why[128];

				snprintf(why, sizeof(why), "read: %s", strerror(errno));
				ev_io_stop(ns->loop, &ns->io);
				if (ns->on_gone)
					ns->on_gone(ns->gone_ctx, why);
				return;
			}
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
	tcpglue_flush(ns);
	gso_flush(ns);
}

static err_t netif_init_cb(struct netif *netif)
{
	struct netstack *ns = netif->state;

	netif->name[0] = 's';
	netif->name[1] = 'n';
	netif->mtu = (u16_t)ns->mtu;
	netif->output = gso_output4;
	netif->output_ip6 = gso_output6;
	return ERR_OK;
}

/* ---- timers ---------------------------------------------------------- */

/* Seconds until lwIP's next timeout (at least 1 ms). */
static ev_tstamp next_timeout(void)
{
	u32_t ms = sys_timeouts_sleeptime();

	if (ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE)
		return IDLE_MAX;
	return ms ? ms / 1000.0 : 0.001;
}

/* The timer stays active (repeating), only its period changes: the loop's reference
 * count is left alone (it was dropped once at the start). */
static void timer_rearm(struct netstack *ns, ev_tstamp after)
{
	ns->timer.repeat = after;
	ev_timer_again(ns->loop, &ns->timer);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct netstack *ns = w->data;

	(void)loop;
	(void)revents;
	sys_check_timeouts();
	tcpglue_flush(ns);
	gso_flush(ns);
	timer_rearm(ns, next_timeout());
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct netstack *ns = w->data;

	(void)revents;
	if (!TAILQ_EMPTY(&ns->pending))
		tcpglue_flush(ns);
	gso_flush(ns); /* what relay-side writes produced since */
	/* A timeout added since (a new pcb starts TCP's timer) may be due sooner. */
	ev_tstamp next = next_timeout();
	if (ev_timer_remaining(loop, &ns->timer) > next + 0.0005)
		timer_rearm(ns, next);
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
	TAILQ_INIT(&ns->pending);
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
	ev_timer_init(&ns->timer, timer_cb, 0.001, next_timeout());
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
	tcpglue_free_all(ns);
	udp_relay_free(ns->udp);
	for (unsigned port = 0; port < 65536; port++) {
		if (ns->udp_pcbs[port])
			udp_remove(ns->udp_pcbs[port]);
	}
	/* Fragments waiting for reassembly: aged out at once. */
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

const struct netstack_stats *netstack_stats(struct netstack *ns)
{
	tcpglue_count(ns);
	ns->stats.udp_flows = udp_relay_stats(ns->udp)->flows_active;
	return &ns->stats;
}
