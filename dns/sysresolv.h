/* sysresolv.h -- the system's resolver files: reading them (/etc/hosts, /etc/resolv.conf),
 * and the non-loopback nameservers of /etc/resolv.conf, which stand in for dns.domestic
 * when the config leaves it empty (the resolver's domestic side, and the lookups of
 * snet-tun's own names). */
#ifndef SNET_DNS_SYSRESOLV_H
#define SNET_DNS_SYSRESOLV_H

#include <stddef.h>

#include "base/config.h"

#define SYSRESOLV_MAX 8
#define SYSRESOLV_PATH "/etc/resolv.conf"
#define SYSRESOLV_FILE_MAX (1024 * 1024) /* bytes of such a file read at most */

/* Reads at most SYSRESOLV_FILE_MAX bytes of path into a fresh buffer (the caller frees
 * it); NULL when it cannot. */
char *sysresolv_read(const char *path, size_t *len);

/* Reads /etc/resolv.conf now: its usable nameservers (port 53) into out, at most
 * SYSRESOLV_MAX; *loopback counts the loopback ones skipped (our own capture, or a stub
 * forwarding to it). The count; 0 when the file is missing or names none. */
size_t sysresolv_servers(struct host_port out[SYSRESOLV_MAX], size_t *loopback);

#endif
