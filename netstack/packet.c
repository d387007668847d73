/* packet.c -- the stateless packet code of tun mode (see packet.h): classifying what is
 * read from the tun before lwIP sees it, completing TSO checksums, raising the SYN-ACK
 * MSS, and the Internet checksum used for both and for the GSO packets written out. */
#include "netstack/packet.h"

#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <string.h>

static bool dst_usable4(const uint8_t *a)
{
	/* 0/8, multicast and broadcast are never connection endpoints. */
	return a[0] != 0 && a[0] < 224;
}

static bool dst_usable6(const uint8_t *a)
{
	static const uint8_t zero[16];
	return a[0] != 0xff && memcmp(a, zero, 16) != 0;
}

static const uint8_t loopback6[16] = {[15] = 1};

/* The upper-layer protocol of an IPv6 packet: the next header after the extension
 * headers lwIP itself walks (hop-by-hop, routing, fragment, destination options), or
 * -1 when the chain runs past the packet. */
static int ip6_upper_proto(const uint8_t *p, size_t n, bool *fragmented)
{
	uint8_t nh = p[6];
	size_t off = 40;

	*fragmented = false;
	for (int i = 0; i < 16; i++) {
		size_t len;
		if (nh != 0 && nh != 43 && nh != 44 && nh != 60)
			return nh;
		if (nh == 44)
			*fragmented = true;
		if (off + 8 > n)
			return -1;
		len = nh == 44 ? 8 : ((size_t)p[off + 1] + 1) * 8;
		nh = p[off];
		off += len;
	}
	return -1;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* TCP options as type-length-value: each length at least 2 and inside the header. */
static bool tcp_options_ok(const uint8_t *o, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (o[i] == 0) /* end of options */
			return true;
		if (o[i] == 1) { /* no-op */
			i++;
			continue;
		}
		if (i + 1 >= len || o[i + 1] < 2 || o[i + 1] > len - i)
			return false;
		i += o[i + 1];
	}
	return true;
}

enum pkt_verdict pkt_classify(const uint8_t *p, size_t n, struct pkt_info *pi)
{
	size_t l4 = 0;
	uint8_t proto;

	memset(pi, 0, sizeof(*pi));
	if (n < 1)
		return PKT_DROP;
	if ((p[0] >> 4) == 4) {
		size_t ihl = (size_t)(p[0] & 0x0f) * 4;
		size_t total;
		if (n < 20 || ihl < 20 || ihl > n)
			return PKT_DROP;
		total = get16(p + 2);
		if (total < ihl || total > n)
			return PKT_DROP;
		if (!dst_usable4(p + 16))
			return PKT_DROP;
		/* A loopback source, or the destination itself: lwIP's answer would be
		 * looped back (see park_netif_addr in netstack.c). */
		if (p[12] == 127 || memcmp(p + 12, p + 16, 4) == 0)
			return PKT_DROP;
		proto = p[9];
		/* UDP-Lite: lwIP 2.1.3 asserts (aborts) on a checksum coverage longer than
		 * the datagram ("delete me", inet_chksum.c); nothing relays it anyway. */
		if (proto == IPPROTO_UDPLITE)
			return PKT_DROP;
		/* TCP is never fragmented by a sender that honours the MSS, and a reassembled
		 * segment longer than 64 KiB trips an lwIP assertion ("insane offset!",
		 * tcp_in.c) that aborts: drop fragmented TCP. */
		if (proto == IPPROTO_TCP && (((size_t)p[6] & 0x3f) << 8 | p[7]) != 0)
			return PKT_DROP;
		/* Only a first fragment carries the UDP header. */
		if ((((size_t)p[6] & 0x1f) << 8 | p[7]) == 0)
			l4 = ihl;
		pi->src = p + 12;
		pi->dst = p + 16;
		n = total;
	} else if ((p[0] >> 4) == 6) {
		size_t total;
		bool fragmented;
		int upper;
		if (n < 40)
			return PKT_DROP;
		total = 40 + (size_t)get16(p + 4);
		if (total > n)
			return PKT_DROP;
		if (!dst_usable6(p + 24))
			return PKT_DROP;
		if (memcmp(p + 8, loopback6, 16) == 0 || memcmp(p + 8, p + 24, 16) == 0)
			return PKT_DROP;
		proto = p[6];
		/* Every fragment's header names the upper layer; the first one's counts. */
		upper = ip6_upper_proto(p, total, &fragmented);
		/* TCP behind extension headers would escape the checks netstack.c makes on
		 * TCP (and no TCP stack we serve sends it that way). */
		if (upper == IPPROTO_UDPLITE || (upper == IPPROTO_TCP && (fragmented || proto != upper)))
			return PKT_DROP;
		pi->v6 = true;
		pi->src = p + 8;
		pi->dst = p + 24;
		l4 = 40;
		n = total;
	} else {
		return PKT_DROP;
	}
	pi->len = n;
	pi->l4 = l4;
	if (proto == IPPROTO_UDP && l4 && n >= l4 + 8) {
		pi->udp = true;
		pi->sport = get16(p + l4);
		pi->dport = get16(p + l4 + 2);
	} else if (proto == IPPROTO_TCP && l4 && n >= l4 + 20) {
		const uint8_t *t = p + l4;
		size_t doff = (size_t)(t[12] >> 4) * 4;
		/* lwIP's option parser reads an option's length byte before it checks that
		 * the byte is inside the header: one past the packet for an option kind in the
		 * last byte (ASan, lwIP 2.1.3 tcp_in.c). No real sender writes that. */
		if (doff < 20 || l4 + doff > n || !tcp_options_ok(t + 20, doff - 20))
			return PKT_DROP;
		pi->tcp = true;
		pi->sport = get16(t);
		pi->dport = get16(t + 2);
		pi->seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
		pi->tcp_flags = t[13];
	}
	return PKT_INPUT;
}

int pkt_complete_csum(const uint8_t *vnet, uint8_t *pkt, size_t n)
{
	struct virtio_net_hdr h;
	size_t start, off;
	uint16_t c;

	memcpy(&h, vnet, sizeof(h));
	if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	start = h.csum_start;
	off = start + h.csum_offset;
	if (off + 2 > n || start >= n)
		return -1;
	c = (uint16_t)~pkt_fold(pkt_sum16(pkt + start, n - start, 0));
	pkt[off] = (uint8_t)(c >> 8);
	pkt[off + 1] = (uint8_t)c;
	return 0;
}

void pkt_raise_synack_mss(uint8_t *pkt, size_t len, unsigned mtu)
{
	size_t l4, doff, i;
	uint8_t *t;
	unsigned mss;

	if (mtu <= 1500 || len < 1)
		return;
	if ((pkt[0] >> 4) == 4 && len >= 20 && pkt[9] == IPPROTO_TCP) {
		l4 = (size_t)(pkt[0] & 0x0f) * 4;
		mss = mtu - 40;
	} else if ((pkt[0] >> 4) == 6 && len >= 40 && pkt[6] == IPPROTO_TCP) {
		l4 = 40;
		mss = mtu - 60;
	} else {
		return;
	}
	if (len < l4 + 20)
		return;
	t = pkt + l4;
	if ((t[13] & 0x12) != 0x12)
		return;
	doff = (size_t)(t[12] >> 4) * 4;
	if (doff < 20 || l4 + doff > len)
		return;
	for (i = 20; i < doff;) {
		uint8_t kind = t[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= doff || t[i + 1] < 2 || i + t[i + 1] > doff)
			break;
		if (kind == 2 && t[i + 1] == 4) {
			unsigned old = (unsigned)t[i + 2] << 8 | t[i + 3];
			uint32_t sum = (uint32_t)(~((unsigned)t[16] << 8 | t[17]) & 0xffff);
			unsigned o, m;
			if (mss > 65535)
				mss = 65535;
			if (mss <= old)
				return;
			/* RFC 1624 update. After an odd number of NOPs the value sits across two
			 * of the checksum's 16-bit words: it counts byte-swapped (RFC 1071 2(B)). */
			o = (i & 1) ? ((old & 0xff) << 8 | old >> 8) : old;
			m = (i & 1) ? ((mss & 0xff) << 8 | mss >> 8) : mss;
			sum = (uint16_t)~pkt_fold(sum + (~o & 0xffff) + m);
			t[i + 2] = (uint8_t)(mss >> 8);
			t[i + 3] = (uint8_t)mss;
			t[16] = (uint8_t)(sum >> 8);
			t[17] = (uint8_t)sum;
			return;
		}
		i += t[i + 1];
	}
}

/* Words are added in host order 8 bytes at a time and the folded result byte-swapped
 * once, which RFC 1071 section 2(B) shows gives the same sum. */
uint32_t pkt_sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	uint64_t acc = 0;
	uint16_t r;

	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		acc += (v & 0xffffffffu) + (v >> 32);
	}
	for (; n >= 2; p += 2, n -= 2) {
		uint16_t v;
		memcpy(&v, p, 2);
		acc += v;
	}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (n)
		acc += p[0];
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	r = (uint16_t)((acc >> 8 | acc << 8) & 0xffff);
#else
	if (n)
		acc += (uint64_t)p[0] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	r = (uint16_t)acc;
#endif
	return sum + r;
}

uint16_t pkt_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}
