/* redirect.h -- redirect mode capture: a listener for NAT-REDIRECTed TCP connections
 * (TPROXYed ones with redirect.method tproxy). */
#ifndef SNET_REDIRECT_H
#define SNET_REDIRECT_H

#include <stddef.h>

struct ev_loop;
struct relay;
struct config_gateway;
struct config_redirect;
struct redirect;
struct sockaddr_storage;

/* Opens the listener(s) at cfg->listen (and the loopback/any address of the other
 * family on the same port, so IPv6 connections can be redirected too). With the gateway
 * on (gw->enable) and a loopback cfg->listen, also the wildcard address of each family on
 * that port, for the LAN's connections (REDIRECT in prerouting sends them to the address
 * of the interface they came in on); those refuse peers outside gw->lan and loopback.
 * With cfg->method tproxy the listeners for this machine's connections (not the
 * gateway's) are transparent and take their destination from getsockname. */
struct redirect *redirect_new(struct ev_loop *loop, struct relay *relay,
			      const struct config_redirect *cfg, const struct config_gateway *gw,
			      char *err, size_t errlen);
/* Takes a new gateway.lan for the LAN's listeners' peer check (on reload). 0 or -1. */
int redirect_set_lan(struct redirect *rd, const struct config_gateway *gw);
void redirect_free(struct redirect *rd);
/* Whether an IPv6 listener is open (IPv6 rules are only worth installing then). */
int redirect_has_ipv6(const struct redirect *rd);
/* Whether an IPv6 listener takes the LAN's redirected connections (a wildcard one). */
int redirect_has_gateway_ipv6(const struct redirect *rd);
/* The addresses of the listeners for this machine's own connections (not the gateway's
 * wildcard ones), at most max, into out; their number. */
int redirect_local_addrs(const struct redirect *rd, struct sockaddr_storage *out, int max);
/* The port the listeners use. */
unsigned redirect_port(const struct redirect *rd);
/* "127.0.0.1:1111 [::1]:1111" for the ready line. */
const char *redirect_describe(const struct redirect *rd, char *buf, size_t len);

#endif
