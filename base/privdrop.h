/* privdrop.h -- running as a user: resolving `user:` to a uid and group, dropping root to
 * that user while keeping CAP_NET_ADMIN (and CAP_NET_BIND_SERVICE when asked, nothing
 * else), and asking whether this process holds CAP_NET_ADMIN. */
#ifndef SNET_PRIVDROP_H
#define SNET_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A user name, or a numeric uid (one without a passwd entry gets the group of the same
 * number and no supplementary groups). 0, or -1 with err set ("no such user"). */
int privdrop_lookup(const char *spec, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* Becomes uid/gid (real, effective and saved), with the user's supplementary groups (none
 * without a passwd entry), keeping only CAP_NET_ADMIN (and, with bind_low,
 * CAP_NET_BIND_SERVICE: sockets bound to ports below 1024) in the permitted and effective
 * sets and setting no_new_privs. Must run while the process has one thread (capabilities
 * are per thread). 0, or -1 with err set. */
int privdrop_to(uid_t uid, gid_t gid, bool bind_low, char *err, size_t errlen);

/* Whether CAP_NET_ADMIN is in this thread's effective set. */
bool privdrop_has_net_admin(void);

#endif
