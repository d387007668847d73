/* fuzz_tun_input.c -- what tun mode does to a packet before lwIP sees it, and to a
 * SYN-ACK on its way out (netstack/packet.c). The input is what a read() of the tun
 * gives: a 10-byte virtio_net_hdr, then the packet. The checksum is completed when the
 * header asks (as for a TSO segment), the packet classified, and its SYN-ACK MSS raised
 * for an MTU taken from the header's bytes. Checked: whatever pkt_classify lets through
 * is inside the bytes read (lengths, transport header, addresses); and raising the MSS
 * keeps a valid TCP checksum valid. Seeds: tests/e2e/pktgen.py corpus. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netstack/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VNET 10

#define MAX_PKT 65535

/* The TCP checksum of a whole IPv4/IPv6 packet of len bytes (transport header at l4) is
 * right: the one's-complement sum over pseudo-header and segment is 0xffff. */
static bool tcp_csum_ok(const uint8_t *p, size_t len, size_t l4, bool v6)
{
	uint32_t sum;

	if (v6)
		sum = pkt_sum16(p + 8, 32, 0);
	else
		sum = pkt_sum16(p + 12, 8, 0);
	sum += IPPROTO_TCP + (uint32_t)(len - l4);
	sum = pkt_sum16(p + l4, len - l4, sum);
	return pkt_fold(sum) == 0xffff;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_info pi;
	size_t n;
	unsigned mtu;
	bool ok_before;

	if (size < VNET || size - VNET > MAX_PKT)
		return 0;
	n = size - VNET;
	/* An exact-size copy, so ASan sees any read past the packet. */
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return 0;
	memcpy(p, data + VNET, n);
	if (pkt_complete_csum(data, p, n) < 0) {
		free(p);
		return 0;
	}
	if (pkt_classify(p, n, &pi) == PKT_INPUT) {
		const uint8_t *end = p + n;
		size_t alen = pi.v6 ? 16 : 4;

		if (pi.len > n || pi.len < (pi.v6 ? 40u : 20u))
			__builtin_trap();
		if (pi.src < p || pi.src + alen > end || pi.dst < p || pi.dst + alen > end)
			__builtin_trap();
		if (pi.udp && pi.tcp)
			__builtin_trap();
		if ((pi.udp && pi.l4 + 8 > pi.len) || (pi.tcp && pi.l4 + 20 > pi.len))
			__builtin_trap();
		/* Raising the MSS of a SYN-ACK keeps a correct checksum correct. */
		if (pi.tcp && (pi.tcp_flags & 0x12) == 0x12 && pi.len == n) {
			mtu = 1500 + ((unsigned)data[2] << 8 | data[3]) % 64000;
			ok_before = tcp_csum_ok(p, n, pi.l4, pi.v6);
			pkt_raise_synack_mss(p, n, mtu);
			if (ok_before && !tcp_csum_ok(p, n, pi.l4, pi.v6))
				__builtin_trap();
		}
	}
	/* And on anything at all, as the output path would see lwIP's packets. */
	memcpy(p, data + VNET, n);
	pkt_raise_synack_mss(p, n, 1500 + (unsigned)(size % 8000));
	free(p);
	return 0;
}
