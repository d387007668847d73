/* upstream.h -- one upstream resolver and how it is asked, behind one ops table:
 * direct (up_direct.c: UDP from a marked socket, the same query again over TCP when the
 * answer is truncated) for the domestic resolvers, and tunnel (up_tunnel.c: one TCP
 * connection through the proxy, opened through the relay, many queries pipelined on it,
 * reopened on demand) for the foreign ones.
 *
 * A query is a question; the transport picks the ID, sends, matches the answer (ID,
 * question, QR) and calls back exactly once unless cancelled. The answer handed to the
 * callback has parsed cleanly and comes parsed; its rcode is the caller's business. */
#ifndef SNET_DNS_UPSTREAM_H
#define SNET_DNS_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "dns/msg.h"

struct config_dns;
struct ev_loop;
struct host_port;
struct relay;
struct resolver;
struct dns_up;
struct dns_upq;

/* ok: 0 with the answer, parsed once by dns_up_match where it arrived (it and the bytes it
 * points into live only during the call: keep a copy); -1 and ans NULL (no answer:
 * unreachable, timed out, refused); why says what. */
typedef void (*dns_up_cb)(void *arg, int ok, const struct dns_msg *ans, const char *why);

struct dns_up_ops {
	const char *name; /* "domestic", "foreign" */
	struct dns_upq *(*query)(struct dns_up *u, const struct dns_question *q, dns_up_cb cb,
				 void *arg);
	void (*cancel)(struct dns_upq *q);
	void (*free)(struct dns_up *u);
};

#define DNS_UP_DESC_MAX 300

/* Common head of both kinds. */
struct dns_up {
	const struct dns_up_ops *ops;
	char desc[DNS_UP_DESC_MAX];
};


struct dns_up *dns_up_direct_new(struct ev_loop *loop, struct resolver *res,
				 const struct host_port *hp, uint32_t fwmark);
struct dns_up *dns_up_tunnel_new(struct ev_loop *loop, struct relay *relay,
				 const struct host_port *hp);

static inline struct dns_upq *dns_up_query(struct dns_up *u, const struct dns_question *q,
					   dns_up_cb cb, void *arg)
{
	return u->ops->query(u, q, cb, arg);
}

/* Writes the query message for q with id: RD, EDNS with our UDP size. 0 or -1. */
int dns_up_write_query(uint16_t id, const struct dns_question *q, uint8_t *out, size_t max,
		       size_t *len);
/* Whether ans is the answer to our query (id, q): parses it into *m (pointing into ans),
 * checks QR, opcode and the question. 0 (m is the parsed answer) or -1. */
int dns_up_match(const uint8_t *ans, size_t len, uint16_t id, const struct dns_question *q,
		 struct dns_msg *m);
/* Writes "<ops name> host:port" ([v6]:port) into u->desc, for logs. */
void dns_up_describe(struct dns_up *u, const struct host_port *hp);
/* A random query ID. */
uint16_t dns_up_random_id(void);

/* The upstreams of one configuration, by side, reference-counted: queries in flight keep
 * the set they started with across a reload. */
enum dns_side { DNS_DOMESTIC = 0, DNS_FOREIGN = 1 };
struct dns_upset {
	unsigned refs;
	struct dns_up **v[2]; /* by enum dns_side */
	size_t n[2];
	size_t next[2]; /* round robin start */
};
/* One reference; NULL when out of memory. */
struct dns_upset *dns_upset_new(struct ev_loop *loop, struct resolver *res,
				 struct relay *relay, uint32_t fwmark, const struct config_dns *c);
/* Drops a reference; the last one frees the set. */
void dns_upset_put(struct dns_upset *u);

#endif
