/* udp_tproxy.h -- redirect mode's UDP: datagrams that nftables TPROXYed to our
 * transparent sockets go into the relay's UDP flow table (relay/udp.h); replies go back
 * from a transparent socket bound to the address the application sent to. */
#ifndef SNET_UDP_TPROXY_H
#define SNET_UDP_TPROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;
struct relay;
struct udp_tproxy;

struct udp_tproxy_stats {
	uint64_t flows_active, dgrams_up, dgrams_down;
	uint64_t dropped; /* the flow table's drops, plus ours: no UDP upstream, loops, ... */
	uint64_t reply_socks; /* reply sockets open (one per destination in use) */
};

/* Opens one IP_TRANSPARENT socket per address in addrs (the redirect listeners'
 * addresses: the rules send to them), each marked with fwmark, and the flow table with
 * timeout (seconds idle) and max_flows. NULL with err set. */
struct udp_tproxy *udp_tproxy_new(struct ev_loop *loop, struct relay *relay,
				  const struct sockaddr_storage *addrs, int n, uint32_t fwmark,
				  unsigned timeout, unsigned max_flows, char *err, size_t errlen);
void udp_tproxy_free(struct udp_tproxy *t);
/* Whether datagrams are worth sending here now: the current upstream carries UDP. */
int udp_tproxy_enabled(struct udp_tproxy *t);
/* Whether a socket of that family is open. */
int udp_tproxy_has(const struct udp_tproxy *t, int family);
void udp_tproxy_stats(const struct udp_tproxy *t, struct udp_tproxy_stats *out);

#endif
