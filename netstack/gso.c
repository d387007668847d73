/* gso.c -- lwIP's packets out to the tun: lwIP's contiguous 1460-byte segments of one
 * flow are coalesced into one GSO packet (VIRTIO_NET_HDR_GSO_TCPV4/6, the checksum left to
 * the kernel, which splits it) and written once per batch; anything else is written as it
 * is, a SYN-ACK's MSS raised to the tun's MTU first. A full tun queue drops the packet
 * (TCP retransmits).
 */
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "netstack/internal.h"
#include "netstack/packet.h"
#include "tun/tun.h"

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
void gso_flush(struct netstack *ns)
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

err_t gso_output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *dst)
{
	(void)dst;
	return output_packet(netif, p);
}

err_t gso_output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *dst)
{
	(void)dst;
	return output_packet(netif, p);
}
