/* fakeip.h -- the fake-IP pool: each name handed out gets an address of its own from a
 * private range (and the address at the same offset in the IPv6 range, when there is
 * one), stable while the name is in use, and the least recently used name gives its
 * address up when the pool is full. Both directions are O(1): name -> address for DNS
 * answers, address -> name when tun mode opens a connection to such an address. */
#ifndef SNET_DNS_FAKEIP_H
#define SNET_DNS_FAKEIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/msg.h"

struct config_fake_ip;
struct fakeip;

/* A pool for cfg (range, range6, size; the pool holds at most size names, fewer when the
 * range is smaller). NULL when out of memory. */
struct fakeip *fakeip_new(const struct config_fake_ip *cfg);
void fakeip_free(struct fakeip *f);
/* Whether a pool made for cfg would be this one (same ranges and size). */
bool fakeip_same(const struct fakeip *f, const struct config_fake_ip *cfg);
bool fakeip_has_v6(const struct fakeip *f);

/* The addresses of the wire-form name (any case; case-folded), assigning them when the
 * name has none. a6 is filled only with an IPv6 range. Never fails. */
void fakeip_assign(struct fakeip *f, const uint8_t *name, size_t len, uint8_t a4[4],
		   uint8_t a6[16]);

/* Whether the name has an address now (marking it used). */
bool fakeip_known(struct fakeip *f, const uint8_t *name, size_t len);

/* For an address of the pool: the name (text, no trailing dot) into host[hostlen],
 * marking it used. 0 found; 1 inside the range but given to no name (expired);
 * -1 not inside the range. */
int fakeip_name(struct fakeip *f, int family, const uint8_t *addr, char *host, size_t hostlen);
/* Whether addr is inside either range. */
bool fakeip_contains(const struct fakeip *f, int family, const uint8_t *addr);

#endif
