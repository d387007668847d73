/* nl_internal.h -- what the policy routing files of tun/ share, and nothing outside it
 * includes: a rule as we install or dump it, the rules and families a set of routes
 * installs (netlink.c), and the selection of dumped rules and routes that removal deletes
 * (nlremove.c). */
#ifndef SNET_NL_INTERNAL_H
#define SNET_NL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nl_routes;
struct nlb;

struct rule {
	int family;
	uint32_t prio;
	uint8_t action; /* FR_ACT_TO_TBL, FR_ACT_GOTO, FR_ACT_NOP */
	uint32_t table; /* FR_ACT_TO_TBL */
	uint32_t target; /* FR_ACT_GOTO */
	bool invert;
	bool mark;
	uint32_t fwmark;
	bool uid;
	uint32_t uid_val;
	bool suppress; /* suppress_prefixlength 0 */
	bool iif_lo; /* iif lo: locally generated */
	uint8_t src_len; /* from SRC/LEN; 0: from all */
	uint8_t src[16];
	uint8_t ipproto; /* ipproto P; 0: any */
	uint16_t dport; /* dport D (a range of one); 0: any */
	bool odd; /* dumped with a selector we never set: never one of the rules we want */
};

/* Which dumped messages are ours, and copies of them, back to back, each MNL_ALIGNed.
 * Ours: rules at r's priorities or looking up one of `table`, routes in one of `table`
 * (0: no table); but not the rules that installing `keep` (when set) adds. */
struct found {
	const struct nl_routes *r;
	uint32_t table[2];
	const struct nl_routes *keep;
	char *v;
	size_t len, cap;
};

/* "IPv4" or "IPv6". */
const char *nl_family_name(int family);
/* Families with rules and a table: IPv6 too with an IPv6 address, or to block it. */
int nl_nfam(const struct nl_routes *r);
/* Calls fn for each rule r installs in one family, in the order they are added. */
void nl_rules_for(const struct nl_routes *r, int family,
		  void (*fn)(const struct rule *u, void *arg), void *arg);
/* Deletes what sel selects: its rules (when rules) of both families, then its routes (when
 * routes). */
int nl_remove_found(struct nlb *b, const struct found *sel, bool rules, bool routes);

#endif
