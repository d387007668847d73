/* cidrset.h -- an immutable set of IPv4/IPv6 networks with O(log n) membership: sorted,
 * merged address ranges. Built once from config CIDR lists (e.g. the CN list, 8 600
 * networks) and asked "is this address inside?" per DNS answer. */
#ifndef SNET_DNS_CIDRSET_H
#define SNET_DNS_CIDRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cidr;
struct cidrset;

/* A set of the n networks in v (either family). NULL when out of memory. */
struct cidrset *cidrset_new(const struct cidr *v, size_t n);
void cidrset_free(struct cidrset *s);
/* Whether addr (4 bytes for AF_INET, 16 for AF_INET6, network order) is in the set. */
bool cidrset_contains(const struct cidrset *s, int family, const uint8_t *addr);
/* Number of ranges after merging (for logs and tests). */
size_t cidrset_ranges(const struct cidrset *s);

#endif
