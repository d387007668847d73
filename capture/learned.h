/* learned.h -- addresses learned from DNS answers for rules.bypass-domains and
 * rules.proxy-domains, each with the time its record expires: what the capture modes
 * keep in the kernel (routes, nft set elements) and must put back after a reload.
 * An O(1) hash of (family, address); bounded. */
#ifndef SNET_LEARNED_H
#define SNET_LEARNED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEARNED_MAX 65536

struct learned;

struct learned_addr {
	int family;
	uint8_t addr[16];
	bool proxy; /* proxy-domains (else bypass-domains) */
	double expires; /* ev_now() seconds */
};

struct learned *learned_new(void);
void learned_free(struct learned *l);
/* Records a; when it is there already with the same kind, keeps the later expiry.
 * 1: new, or its kind changed (the kernel needs it); 2: only extended; 0: unchanged;
 * -1: the table is full or out of memory. */
int learned_put(struct learned *l, const struct learned_addr *a);
/* Calls fn for each entry; with now > 0, entries that expired by now are removed first
 * and passed to gone (may be NULL). */
void learned_each(struct learned *l, double now, void (*fn)(void *ctx, const struct learned_addr *a),
		  void (*gone)(void *ctx, const struct learned_addr *a), void *ctx);
size_t learned_count(const struct learned *l);
/* The earliest expiry, or 0 when empty. */
double learned_next_expiry(const struct learned *l);

#endif
