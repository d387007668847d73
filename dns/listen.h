/* listen.h -- the resolver's sockets at one address: UDP, and TCP with any number of
 * pipelined queries per connection (RFC 7766), answered in the order they complete. */
#ifndef SNET_DNS_LISTEN_H
#define SNET_DNS_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr;
struct ev_loop;
struct dns_listen;

/* Who asked, for the reply and the query log. */
struct dns_client {
	struct sockaddr_storage peer; /* the client */
	struct sockaddr_storage local; /* the address it asked (the reply's source) */
	bool tcp; /* no UDP size limit */
};

typedef void (*dns_reply_fn)(void *ctx, const struct dns_client *c, const uint8_t *msg,
			     size_t len);

/* Where a listener hands each query (dns_server_query's contract): fn(fn_ctx, c, reply)
 * runs exactly once, now or later; returns 1 then, or 0 when the query gets no answer at
 * all and fn never runs. */
typedef int (*dns_query_fn)(void *ctx, const uint8_t *msg, size_t len,
			    const struct dns_client *c, dns_reply_fn fn, void *fn_ctx);

/* Binds UDP and TCP at addr; shared: the TCP socket with SO_REUSEPORT (a loopback address
 * and the wildcard one on the same port, both shared). Every query goes to
 * query(query_ctx, ...). NULL with err set (errno's text). */
struct dns_listen *dns_listen_new(struct ev_loop *loop, dns_query_fn query, void *query_ctx,
				  const struct sockaddr_storage *addr, bool shared, char *err,
				  size_t errlen);
/* From now on, answers only loopback clients and those inside v[n] (a listener opened for
 * the gateway's LAN); the others' UDP queries are dropped, their TCP connections reset.
 * Replaces an earlier list. 0, or -1 (out of memory: the old list stays). */
int dns_listen_restrict(struct dns_listen *l, const struct cidr *v, size_t n);
/* Closes the sockets and every TCP connection; call before the server drops its queries
 * (a connection's pending answers are never delivered after this). */
void dns_listen_free(struct dns_listen *l);

#endif
