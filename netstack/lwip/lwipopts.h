/* lwipopts.h -- lwIP's options for the build from Debian's source package
 * (-DSNET_LWIP=source; the default build links Debian's liblwip, whose options are fixed
 * in /usr/include/lwip/lwipopts.h). What the netstack needs: raw API only, no OS layer
 * (NO_SYS: lwip_init, ip_input, the TCP/UDP calls and sys_check_timeouts all run on the
 * one libev thread), IPv4 and IPv6 with reassembly, TCP keepalive, pcbs and pbufs from
 * malloc (no fixed pools: a connection costs what it holds). The TCP sizes below are the
 * ones the loss benchmark chose; each may be overridden with -D for experiments. */
#ifndef SNET_LWIPOPTS_H
#define SNET_LWIPOPTS_H

#define NO_SYS 1
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define SYS_LIGHTWEIGHT_PROT 0

/* Memory: malloc for everything, as in Debian's build (netstack.c relies on pbufs of
 * exactly the requested size). */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define LWIP_NETIF_TX_SINGLE_PBUF 1 /* gso.c gets each packet in one piece */

/* Protocols: IP in and out of the tun only, no link layer, no address configuration. */
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_ICMP 1
#define LWIP_ICMP6 1
#define LWIP_RAW 0
#define LWIP_UDP 1
#define LWIP_UDPLITE 0
#define LWIP_TCP 1
#define LWIP_IGMP 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_DNS 0
#define LWIP_IPV6_MLD 0
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_IPV6_DHCP6 0
#define IP_FORWARD 0
#define LWIP_IPV6_FORWARD 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define LWIP_IPV6_REASS 1
#define LWIP_IPV6_FRAG 1
/* No loopback: a packet to the netif's own address goes out to the tun like any other
 * (netstack.c never lets lwIP answer one anyway). */
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_HAVE_LOOPIF 0
#define SO_REUSE 1
#define LWIP_TCP_KEEPALIVE 1
#define LWIP_STATS 0
#define LWIP_NOASSERT_ON_ERROR 1

/* Checksums: checked on input (packets forwarded into the tun from a LAN were never
 * checked by the kernel), made on output; computed while copying, as Debian does. */
#define LWIP_CHECKSUM_ON_COPY 1

/* TCP sizes. TCP_MSS is what lwIP sends at most per segment (the tun's MTU decides
 * what it advertises: gso.c raises the SYN-ACK's option). */
#ifndef TCP_MSS
#define TCP_MSS 1460
#endif
#define LWIP_WND_SCALE 1
#ifndef TCP_RCV_SCALE
#define TCP_RCV_SCALE 7
#endif
#ifndef TCP_WND
#define TCP_WND (1024 * 1024)
#endif
#ifndef TCP_SND_BUF
#define TCP_SND_BUF (1024 * 1024)
#endif
#ifndef TCP_SND_QUEUELEN
#define TCP_SND_QUEUELEN ((4 * (TCP_SND_BUF) + (TCP_MSS - 1)) / (TCP_MSS))
#endif
/* Only lwIP's netconn API uses it; it must fit lwIP's 16-bit checks. */
#define TCP_SNDLOWAT                                                                   \
	((TCP_SND_BUF) / 2 < 0xFFFF - 4 * (TCP_MSS) - 1 ? (TCP_SND_BUF) / 2              \
						       : 0xFFFF - 4 * (TCP_MSS) - 1)
#ifndef LWIP_TCP_SACK_OUT
#define LWIP_TCP_SACK_OUT 1
#endif
#ifndef TCP_TMR_INTERVAL
#define TCP_TMR_INTERVAL 25
#endif
#ifndef TCP_OOSEQ_MAX_BYTES
#define TCP_OOSEQ_MAX_BYTES TCP_WND
#endif
#ifndef TCP_OOSEQ_MAX_PBUFS
#define TCP_OOSEQ_MAX_PBUFS 4096
#endif

#endif
