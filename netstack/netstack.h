/* netstack.h -- the lwIP glue: IP packets from the tun in, TCP connections out to the relay.
 *
 * One netstack per process (lwIP keeps global state), single-threaded on the libev loop:
 * packets read from the tun fd are handed to lwIP, lwIP's timers run from an ev_timer,
 * and every TCP connection lwIP accepts, whatever its destination address and port,
 * becomes a relay session whose client side is the lwIP pcb; every UDP datagram goes to
 * the UDP flow table (core/udp.c), whose replies come back out with the original
 * destination as their source.
 */
#ifndef SNET_NETSTACK_H
#define SNET_NETSTACK_H

#include <ev.h>
#include <stdint.h>

struct dns_server;
struct relay;
struct netstack;

struct netstack_stats {
	uint64_t packets_in, packets_out, bytes_in, bytes_out;
	uint64_t dropped_in; /* malformed, unsupported or not for us */
	uint64_t dropped_out; /* the tun queue was full */
	uint64_t tcp_accepted, tcp_active, listeners;
};

/* Takes packets from tun_fd (non-blocking, IFF_NO_PI) of at most mtu bytes; with dns,
 * every query to port 53 (UDP here, TCP relayed to its listener) goes to it; UDP flows
 * live udp_timeout seconds idle, at most udp_max_flows at once. Only one may exist at
 * a time. NULL with err set. */
struct netstack *netstack_new(struct ev_loop *loop, int tun_fd, unsigned mtu, struct relay *relay,
			      struct dns_server *dns, unsigned udp_timeout, unsigned udp_max_flows, char *err,
			      size_t errlen);
/* Resets every connection lwIP still holds and frees everything. Call after relay_free
 * (which closes the sessions). NULL is fine. */
void netstack_free(struct netstack *ns);
const struct netstack_stats *netstack_stats(const struct netstack *ns);

#endif
