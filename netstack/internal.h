/* internal.h -- what the files of netstack/ share, and nothing outside it includes: the
 * one netstack's state, and the calls between the input path and UDP (netstack.c), the
 * TCP glue (tcp.c) and the output path (gso.c). */
#ifndef SNET_NETSTACK_INTERNAL_H
#define SNET_NETSTACK_INTERNAL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <lwip/ip_addr.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/tcp.h>

#include "netstack/netstack.h"

#define IN_MAX 65535 /* a TSO segment from the kernel can be this long, whatever the MTU */

struct ns_tcp;
struct pkt_info;

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
	void (*on_gone)(void *ctx, const char *why); /* the tun cannot be read any more */
	void *gone_ctx;
	uint8_t *udp_buf;
	LIST_HEAD(, ns_tcp) conns; /* every connection the glue holds */
	TAILQ_HEAD(, ns_tcp) pending; /* to open or notify at the next flush (tcp.c), in order */
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

/* tcp.c: the TCP client side of sessions. */
/* Opens the sessions of new connections and tells the relay what became readable or
 * writable, after a batch of packets, a timer run or a loop iteration. */
void tcpglue_flush(struct netstack *ns);
/* A listener on port (any address), made when its first SYN arrives. false: none. */
bool tcpglue_listen(struct netstack *ns, u16_t port);
/* Whether a segment's sequence number is sane for its connection (see tcp.c). */
bool tcpglue_seq_sane(const struct pkt_info *pi);
/* A SYN for a connection lwIP holds in TIME_WAIT ends the TIME_WAIT. */
void tcpglue_end_time_wait(const struct pkt_info *pi);
/* Counts lwIP's active and TIME_WAIT pcbs into ns->stats. */
void tcpglue_count(struct netstack *ns);
/* Resets every connection the glue and lwIP still hold; closes the listeners. */
void tcpglue_free_all(struct netstack *ns);
void ns_addr_to_sockaddr(const ip_addr_t *a, u16_t port, struct sockaddr_storage *ss);

/* gso.c: lwIP's packets out to the tun. */
err_t gso_output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst);
err_t gso_output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *dst);
/* Writes what is pending (coalesced segments) to the tun. */
void gso_flush(struct netstack *ns);

#endif
