/* listen.h -- the resolver's sockets at one address: UDP, and TCP with any number of
 * pipelined queries per connection (RFC 7766), answered in the order they complete. */
#ifndef SNET_DNS_LISTEN_H
#define SNET_DNS_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

struct ev_loop;
struct dns_server;
struct dns_listen;

/* Binds UDP and TCP at addr. NULL with err set (with errno's text). */
struct dns_listen *dns_listen_new(struct ev_loop *loop, struct dns_server *srv,
				  const struct sockaddr_storage *addr, char *err, size_t errlen);
/* Closes the sockets and every TCP connection; call before the server drops its queries
 * (a connection's pending answers are never delivered after this). */
void dns_listen_free(struct dns_listen *l);

#endif
