/* listen.h -- the resolver's sockets at one address: UDP, and TCP with any number of
 * pipelined queries per connection (RFC 7766), answered in the order they complete. */
#ifndef SNET_DNS_LISTEN_H
#define SNET_DNS_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct cidr;
struct ev_loop;
struct dns_server;
struct dns_listen;

/* Binds UDP and TCP at addr; shared: the TCP socket with SO_REUSEPORT (a loopback address
 * and the wildcard one on the same port, both shared). NULL with err set (errno's text). */
struct dns_listen *dns_listen_new(struct ev_loop *loop, struct dns_server *srv,
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
