/* packet.h -- tun mode's packet code that needs neither lwIP nor state: what a packet
 * read from the tun is (header checks and where its transport header is), the checksum a
 * TSO segment from the kernel still lacks, the MSS of an outgoing SYN-ACK, and the
 * Internet checksum. Pure functions over bytes: tests/fuzz/fuzz_tun_input.c runs them on
 * anything. */
#ifndef SNET_PACKET_H
#define SNET_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pkt_verdict {
	PKT_DROP = 0, /* malformed, or something lwIP must never see */
	PKT_INPUT, /* goes into lwIP */
};

/* What pkt_classify found; pointers point into the packet. */
struct pkt_info {
	bool v6;
	const uint8_t *src, *dst; /* 4 or 16 bytes */
	size_t len; /* the packet's length by its header (at most what was read) */
	/* A UDP (8 bytes) or TCP (20 bytes) header at offset l4 and within len: IPv4 a first
	 * fragment, IPv6 right after the fixed header. At most one of them is set. */
	bool udp, tcp;
	size_t l4;
	uint16_t sport, dport;
	uint8_t tcp_flags;
	uint32_t seq;
};

#define PKT_TCP_SYN 0x02
#define PKT_TCP_ACK 0x10

/* Checks the IPv4/IPv6 header of the n bytes p (lengths consistent, a destination that
 * can be a connection's end, no loopback or self-addressed source, no UDP-Lite, no
 * fragmented TCP or TCP behind IPv6 extension headers: each of those would trip an lwIP
 * assertion or loop back) and fills *pi. */
enum pkt_verdict pkt_classify(const uint8_t *p, size_t n, struct pkt_info *pi);

/* A segment the kernel handed over with VIRTIO_NET_HDR_F_NEEDS_CSUM (vnet: its struct
 * virtio_net_hdr) carries only the pseudo-header sum: completes the checksum in pkt (n
 * bytes) as a NIC would. 0, or -1 when the header points outside the packet. */
int pkt_complete_csum(const uint8_t *vnet, uint8_t *pkt, size_t n);

/* Raises the MSS option of a TCP SYN-ACK (IPv4 or IPv6, len bytes) to what `mtu` allows,
 * when that is more, updating the checksum (RFC 1624). Anything else is left alone. */
void pkt_raise_synack_mss(uint8_t *pkt, size_t len, unsigned mtu);

/* The RFC 1071 sum of n bytes as a network-order 16-bit value, added to sum (unfolded). */
uint32_t pkt_sum16(const uint8_t *p, size_t n, uint32_t sum);
/* sum folded to 16 bits (not complemented). */
uint16_t pkt_fold(uint32_t sum);

#endif
