/* revnames.h -- which name an address was last given as an answer for: the stats view's
 * `host` for a connection opened by address (its client asked us the name first). Bounded
 * (least recently answered dropped first), each entry kept for its record's TTL. */
#ifndef SNET_DNS_REVNAMES_H
#define SNET_DNS_REVNAMES_H

#include <stddef.h>
#include <stdint.h>

struct dns_revnames;

/* At most max entries. NULL when out of memory. */
struct dns_revnames *dns_revnames_new(size_t max);
void dns_revnames_free(struct dns_revnames *r);
/* addr (4 bytes for AF_INET, 16 for AF_INET6) was answered for name (text, no trailing
 * dot) until `expires`. Out of memory leaves the table as it was. */
void dns_revnames_put(struct dns_revnames *r, int family, const uint8_t *addr, const char *name,
		      double expires);
/* 0 with the name in out, or -1 when the address is not known (or expired) at now. */
int dns_revnames_get(struct dns_revnames *r, int family, const uint8_t *addr, double now,
		     char *out, size_t outlen);

#endif
