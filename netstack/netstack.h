/* netstack.h -- the lwIP glue: IP packets from the tun in, TCP connections out to the relay.
 *
 * One netstack per process (lwIP keeps global state), single-threaded on the libev loop:
 * packets read from the tun fd are handed to lwIP, lwIP's timers run from an ev_timer,
 * and every TCP connection lwIP accepts, whatever its destination address and port,
 * becomes a relay session whose client side is the lwIP pcb; every UDP datagram goes to
 * the UDP flow table (relay/udp.c), whose replies come back out with the original
 * destination as their source. What the capture intercepts instead (DNS, to the
 * resolver) it decides through netstack_intercept: the glue holds no policy.
 */
#ifndef SNET_NETSTACK_H
#define SNET_NETSTACK_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct relay;
struct netstack;
struct target;

/* What the capture takes before the relay sees it. Every member may be NULL. */
struct netstack_intercept {
	/* Whether datagrams to this UDP port go to `udp` (a pcb is made for the port even
	 * when the proxy relays no UDP). */
	bool (*udp_port)(void *ctx, uint16_t port);
	/* A datagram from client to dst on such a port; answers go back through
	 * netstack_udp_reply. */
	void (*udp)(void *ctx, const struct sockaddr_storage *client,
		    const struct sockaddr_storage *dst, const uint8_t *data, size_t len);
	/* The target of a new TCP connection, which it may change (e.g. to a local listener,
	 * reached directly) before the relay opens it. */
	void (*tcp)(void *ctx, struct target *t);
	void *ctx;
};

struct netstack_stats {
	uint64_t packets_in, packets_out, bytes_in, bytes_out;
	uint64_t dropped_in; /* malformed, unsupported or not for us */
	uint64_t dropped_out; /* the tun queue was full */
	uint64_t tcp_accepted, tcp_active, listeners;
	/* Counted when asked (netstack_stats walks lwIP's lists): pcbs in lwIP's active list
	 * (every state from SYN_RCVD to LAST_ACK, whether a session holds it or not), in
	 * TIME_WAIT, and the UDP flows held now. */
	uint64_t tcp_pcbs, tcp_time_wait, udp_flows;
	/* Of the active pcbs: with bytes queued not yet sent, with bytes in flight, with the
	 * persist timer running (the client's window too small). */
	uint64_t tcp_unsent, tcp_unacked, tcp_persist;
};

/* Takes packets from tun_fd (non-blocking, IFF_NO_PI) of at most mtu bytes; icpt (NULL:
 * none; copied) says what is intercepted; UDP flows live udp_timeout seconds idle, at
 * most udp_max_flows at once. Only one may exist at a time. NULL with err set. */
struct netstack *netstack_new(struct ev_loop *loop, int tun_fd, unsigned mtu, struct relay *relay,
			      const struct netstack_intercept *icpt, unsigned udp_timeout,
			      unsigned udp_max_flows, char *err, size_t errlen);
/* Called once when the tun cannot be read any more (the device was deleted: EBADFD, or
 * another error that is not a transient one); the netstack has stopped reading it. */
void netstack_on_gone(struct netstack *ns, void (*fn)(void *ctx, const char *why), void *ctx);
/* Sends a datagram into the tun to `to`, from `from` (a port intercepted or relayed). */
void netstack_udp_reply(struct netstack *ns, const struct sockaddr_storage *to,
			const struct sockaddr_storage *from, const uint8_t *data, size_t len);
/* Resets every connection lwIP still holds and frees everything. Call after relay_free
 * (which closes the sessions). NULL is fine. */
void netstack_free(struct netstack *ns);
/* The counters, with the pcbs and flows counted now (a walk of lwIP's lists: for a
 * stats request, not for every packet). */
const struct netstack_stats *netstack_stats(struct netstack *ns);

#endif
