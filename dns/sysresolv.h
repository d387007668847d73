/* sysresolv.h -- the system's resolvers: the non-loopback nameservers of /etc/resolv.conf,
 * which stand in for dns.domestic when the config leaves it empty (the resolver's
 * domestic side, and the lookups of snet-tun's own names). */
#ifndef SNET_DNS_SYSRESOLV_H
#define SNET_DNS_SYSRESOLV_H

#include <stddef.h>

#include "base/config.h"

#define SYSRESOLV_MAX 8

/* Reads /etc/resolv.conf now: its usable nameservers (port 53) into out, at most
 * SYSRESOLV_MAX; *loopback counts the loopback ones skipped (our own capture, or a stub
 * forwarding to it). The count; 0 when the file is missing or names none. */
size_t sysresolv_servers(struct host_port out[SYSRESOLV_MAX], size_t *loopback);

#endif
