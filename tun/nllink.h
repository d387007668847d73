/* nlalias.h -- a link's alias (IFLA_IFALIAS), which marks a tun device that a run keeps
 * persistent so that a crash fails closed (see core/capture_tun.c). */
#ifndef SNET_NLALIAS_H
#define SNET_NLALIAS_H

#include <stddef.h>

/* The alias a run writes on the device it keeps; a restart that finds it takes over. */
#define NL_ALIAS_KEPT "snet-tun: kept while running, fails closed after a crash"

/* Sets (an empty alias clears) the alias of ifname. 0 or -1, err set. */
int nl_alias_set(const char *ifname, const char *alias, char *err, size_t errlen);
/* The alias of ifname into out ("" when it has none). Needs no privilege. 0 or -1, err
 * set. */
int nl_alias_get(const char *ifname, char *out, size_t outlen, char *err, size_t errlen);

#endif
