/* udp.h -- UDP flows: one association per (client ip:port, destination ip:port), relayed
 * through the proxy's UDP mode (ss UDP relay, or direct), expired when idle, bounded in
 * number. The capture side hands datagrams in and gets replies through a callback. */
#ifndef SNET_UDP_H
#define SNET_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "relay/relay.h"

struct ev_loop;
struct relay;
struct udp_relay;

/* A reply for client, to be sent with source `from` (the flow's original destination). */
typedef void (*udp_reply_fn)(void *ctx, const struct sockaddr_storage *client,
			     const struct sockaddr_storage *from, const uint8_t *data, size_t len);

/* Called after a batch of replies (one wakeup of a flow's upstream socket): a reply side
 * that holds them to send in one call (sendmmsg) sends them now. */
typedef void (*udp_flush_fn)(void *ctx);

struct udp_stats {
	uint64_t flows_total, flows_active, flows_evicted, flows_expired;
	uint64_t dgrams_up, dgrams_down, dropped;
};

/* The proxy (and its later reloads) comes from relay. timeout in seconds. */
struct udp_relay *udp_relay_new(struct ev_loop *loop, struct relay *relay, unsigned timeout,
				unsigned max_flows, udp_reply_fn reply, void *ctx);
void udp_relay_free(struct udp_relay *u);
/* The reply side's flush (none by default: every reply is final when made). */
void udp_relay_set_flush(struct udp_relay *u, udp_flush_fn flush);
/* Whether the current proxy relays UDP at all. */
int udp_relay_enabled(struct udp_relay *u);
/* Relays one datagram from client to dst (creating the flow). Drops it (counted, logged
 * once per flow) when it cannot be sent. */
void udp_relay_send(struct udp_relay *u, const struct sockaddr_storage *client,
		    const struct sockaddr_storage *dst, const uint8_t *data, size_t len);
const struct udp_stats *udp_relay_stats(const struct udp_relay *u);
/* The stats view (through the relay the flows were made for, relay/report.c): every flow
 * as a relay_conn, and its rates from the byte counters since the sample at `since`
 * (0: none before). */
void udp_relay_conns(const struct udp_relay *u, relay_conn_fn fn, void *ctx);
void udp_relay_sample(struct udp_relay *u, double since);
/* The relay is being freed before u (main frees the capture after it): u forgets it and
 * may only be freed from now on. */
void udp_relay_orphan(struct udp_relay *u);

#endif
