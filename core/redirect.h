/* redirect.h -- redirect mode capture: a listener for NAT-REDIRECTed TCP connections. */
#ifndef SNET_REDIRECT_H
#define SNET_REDIRECT_H

#include <stddef.h>

struct ev_loop;
struct relay;
struct config_redirect;
struct redirect;

/* Opens the listener(s) at cfg->listen (and the loopback/any address of the other
 * family on the same port, so IPv6 connections can be redirected too). */
struct redirect *redirect_new(struct ev_loop *loop, struct relay *relay,
			      const struct config_redirect *cfg, char *err, size_t errlen);
void redirect_free(struct redirect *rd);
/* Whether an IPv6 listener is open (IPv6 rules are only worth installing then). */
int redirect_has_ipv6(const struct redirect *rd);
/* The port the listeners use. */
unsigned redirect_port(const struct redirect *rd);
/* "127.0.0.1:1111 [::1]:1111" for the ready line. */
const char *redirect_describe(const struct redirect *rd, char *buf, size_t len);

#endif
