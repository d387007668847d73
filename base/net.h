/* net.h -- small socket helpers: non-blocking sockets, marks, keepalive, address text,
 * original destination. */
#ifndef SNET_NET_H
#define SNET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text net_ntop writes: "[v6%scope]:65535". */
#define NET_ADDRSTRLEN 64

/* Non-blocking, close-on-exec socket; -1 with errno. */
int net_socket(int family, int type);
/* SO_MARK so our own traffic is never captured by our rules. 0 or -1 with errno. */
int net_set_mark(int fd, uint32_t mark);
/* IP_TRANSPARENT / IPV6_TRANSPARENT (for the socket's family): it may bind to and send
 * from addresses that are not the machine's, and nftables' tproxy may hand it packets
 * for them. Needs CAP_NET_ADMIN. 0 or -1 with errno. */
int net_set_transparent(int fd, int family);
/* Whether a's address is one of the machine's own (a socket without IP_TRANSPARENT can
 * bind to it). */
bool net_is_local_addr(const struct sockaddr_storage *a);
/* Whether SO_MARK can be set (it needs CAP_NET_ADMIN): 0, or -1 with errno (EPERM). */
int net_mark_available(uint32_t mark);
/* From now on net_set_mark does nothing and succeeds: for a process without
 * CAP_NET_ADMIN whose upstream traffic stays out of the capture by its routes. */
void net_mark_skip(void);
/* Formats "1.2.3.4:80" or "[fd00::1]:80" into buf (NET_ADDRSTRLEN) and returns it. */
const char *net_ntop(const struct sockaddr_storage *ss, char *buf, size_t len);
socklen_t net_sockaddr_len(const struct sockaddr_storage *ss);
bool net_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
uint16_t net_port(const struct sockaddr_storage *ss);
/* Parses an IP literal (no port) with the given port into ss. 0 or -1. */
int net_pton(const char *ip, uint16_t port, struct sockaddr_storage *ss);
/* Bound, listening, non-blocking TCP socket; -1 with errno. v6 sockets are V6ONLY. */
int net_listen_tcp(const struct sockaddr_storage *ss, int backlog);
/* Same; with reuseport, SO_REUSEPORT too, so that a wildcard listener and one on a
 * specific address (both with it) can share a port (the specific one wins its address). */
int net_listen_tcp_shared(const struct sockaddr_storage *ss, int backlog, bool reuseport);
/* The destination a NAT REDIRECT rewrote (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST). */
int net_original_dst(int fd, struct sockaddr_storage *out);
/* TCP keepalive on a stream socket: the first probe after idle seconds of silence, then
 * one every intvl seconds; after cnt unanswered ones the kernel fails the socket with
 * ETIMEDOUT. 0 or -1 with errno. */
int net_set_keepalive(int fd, unsigned idle, unsigned intvl, unsigned cnt);
/* Closes with SO_LINGER 0 so the peer sees a RST. */
void net_close_reset(int fd);
/* Whether a peer may use a listener opened for the LAN (the gateway role): loopback, or
 * inside one of v[n]. */
struct cidr;
/* Whether this network namespace's local port settings suit many short connections to one
 * upstream: 0 when they do (tcp_tw_reuse 1, ip_local_port_range at least NET_PORTS_WIDE
 * ports) or cannot be read, 1 with advice naming both values and the fix in buf. */
#define NET_PORTS_WIDE 30000
int net_port_advice(char *buf, size_t len);
bool net_peer_allowed(const struct sockaddr_storage *peer, const struct cidr *v, size_t n);

#endif
