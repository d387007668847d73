/* netlink.c -- the policy routing for tun mode over rtnetlink (our table and rules, wg-quick
 * style) that sends traffic into the tun: what a set of routes installs (the rules of
 * each family, the default and throw routes of our table), installing it, and a reload's
 * swap between two tables. Removal by dump is in nlremove.c.
 *
 * Everything is said to the kernel directly (no `ip`), through nlbatch so thousands of
 * bypass routes cost a few dozen round trips.
 *
 * A reload swaps between two tables instead of removing and re-adding: the idle table is
 * filled, the new rules go in behind the old ones at the same priorities, and only then
 * are the old rules (those the new set does not have, compared field by field with what
 * the kernel dumps) and the old table removed.
 */
#include "tun/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "tun/nl_internal.h"
#include "tun/nlbatch.h"

#define NL_ROOM 512 /* bytes any request we build fits in */

const char *nl_family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

/* ---- installing routes and rules ---- */

int nl_nfam(const struct nl_routes *r)
{
	return r->ipv6 || r->block_ipv6 ? 2 : 1;
}

/* A route in our table: the default route into the tun (dst NULL) or a throw route. */
static void route_add(struct nlb *b, const struct nl_routes *r, uint32_t table, int family,
		      unsigned idx, const struct cidr *dst)
{
	/* REPLACE makes a bypass CIDR listed twice harmless. */
	struct nlmsghdr *nlh = nlb_put(b, RTM_NEWROUTE,
				       NLM_F_CREATE | (dst ? NLM_F_REPLACE : NLM_F_EXCL), NL_ROOM);
	struct rtmsg *rtm;
	char s[INET6_ADDRSTRLEN + 4];

	if (!nlh)
		return;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	if (dst) {
		rtm->rtm_dst_len = dst->prefix;
		rtm->rtm_scope = RT_SCOPE_UNIVERSE;
		rtm->rtm_type = RTN_THROW;
		if (dst->prefix)
			mnl_attr_put(nlh, RTA_DST, nl_family_len(family), dst->addr);
		nlb_done(b, 0, 0, "adding throw route %s to table %u", nl_cidr_str(dst, s, sizeof(s)),
			 table);
	} else if (family == AF_INET6 && !r->ipv6) {
		/* block_ipv6: IPv6 cannot enter the tun, so it goes nowhere (never around). */
		rtm->rtm_scope = RT_SCOPE_UNIVERSE;
		rtm->rtm_type = RTN_UNREACHABLE;
		nlb_done(b, 0, 0, "adding IPv6 unreachable default route to table %u", table);
	} else {
		rtm->rtm_scope = family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
		rtm->rtm_type = RTN_UNICAST;
		mnl_attr_put_u32(nlh, RTA_OIF, idx);
		nlb_done(b, 0, 0, "adding %s default route dev %s to table %u", nl_family_name(family),
			 r->ifname, table);
	}
}

static void rule_add(struct nlb *b, const struct rule *u)
{
	struct nlmsghdr *nlh = nlb_put(b, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, NL_ROOM);
	struct fib_rule_hdr *h;
	char sel[128] = "", act[40];

	if (!nlh)
		return;
	h = mnl_nlmsg_put_extra_header(nlh, sizeof(*h));
	h->family = (uint8_t)u->family;
	h->action = u->action;
	h->flags = u->invert ? FIB_RULE_INVERT : 0;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, u->prio);
	if (u->mark) {
		mnl_attr_put_u32(nlh, FRA_FWMARK, u->fwmark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffff);
		snprintf(sel, sizeof(sel), "%sfwmark 0x%x ", u->invert ? "not " : "", u->fwmark);
	}
	if (u->uid) {
		struct fib_rule_uid_range range = { .start = u->uid_val, .end = u->uid_val };

		mnl_attr_put(nlh, FRA_UID_RANGE, sizeof(range), &range);
		snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), "uidrange %u-%u ",
			 u->uid_val, u->uid_val);
	}
	if (u->suppress)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, 0);
	if (u->iif_lo) {
		mnl_attr_put_strz(nlh, FRA_IIFNAME, "lo");
		snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), "iif lo ");
	}
	if (u->src_len) {
		struct cidr c = { .family = u->family, .prefix = u->src_len };
		char s[INET6_ADDRSTRLEN + 4];

		h->src_len = u->src_len;
		mnl_attr_put(nlh, FRA_SRC, nl_family_len(u->family), u->src);
		memcpy(c.addr, u->src, nl_family_len(u->family));
		snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), "from %s ",
			 nl_cidr_str(&c, s, sizeof(s)));
	}
	if (u->ipproto) {
		mnl_attr_put_u8(nlh, FRA_IP_PROTO, u->ipproto);
		snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), "ipproto %s ",
			 u->ipproto == IPPROTO_TCP ? "tcp" : "udp");
	}
	if (u->dport) {
		struct fib_rule_port_range range = { .start = u->dport, .end = u->dport };

		mnl_attr_put(nlh, FRA_DPORT_RANGE, sizeof(range), &range);
		snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), "dport %u ", u->dport);
	}
	if (u->action == FR_ACT_TO_TBL) {
		h->table = u->table < 256 ? (uint8_t)u->table : RT_TABLE_UNSPEC;
		mnl_attr_put_u32(nlh, FRA_TABLE, u->table);
		snprintf(act, sizeof(act), "lookup %u%s", u->table,
			 u->suppress ? " suppress_prefixlength 0" : "");
	} else if (u->action == FR_ACT_GOTO) {
		mnl_attr_put_u32(nlh, FRA_GOTO, u->target);
		snprintf(act, sizeof(act), "goto %u", u->target);
	} else {
		snprintf(act, sizeof(act), "nop");
	}
	/* EXCL + EEXIST: a uid listed twice gives one rule. */
	nlb_done(b, EEXIST, 0, "adding %s rule %u: %s%s", nl_family_name(u->family), u->prio, sel, act);
}

/* The DNS capture's rules at priority+0 (see netlink.h): our own marked queries skip
 * them; the others, UDP and TCP to port 53, look up the DNS table, for every user (iif
 * lo with the gateway) or for each of the uids, and for each LAN range with the gateway.
 * They name the DNS table of r->table, so a swap always adds them anew behind the
 * exclusions of the new set, and removes the old ones. */
static void dns_rules_for(const struct nl_routes *r, int family,
			  void (*fn)(const struct rule *u, void *arg), void *arg)
{
	const uint8_t protos[2] = { IPPROTO_UDP, IPPROTO_TCP };
	const uint32_t p = r->priority;
	struct rule u;

	if (r->fwmark) {
		u = (struct rule){ .family = family, .prio = p, .action = FR_ACT_GOTO,
				   .target = p + 1, .mark = true, .fwmark = r->fwmark };
		fn(&u, arg);
	}
	for (int k = 0; k < 2; k++) {
		const struct rule q = { .family = family, .prio = p, .action = FR_ACT_TO_TBL,
					.table = NL_DNS_TABLE(r->table), .ipproto = protos[k],
					.dport = 53, .iif_lo = r->gateway };

		if (!r->n_uids && !r->cgroup_mark)
			fn(&q, arg);
		if (r->cgroup_mark) {
			u = q;
			u.mark = true;
			u.fwmark = r->cgroup_mark;
			fn(&u, arg);
		}
		for (size_t i = 0; i < r->n_uids; i++) {
			u = q;
			u.uid = true;
			u.uid_val = r->uids[i];
			fn(&u, arg);
		}
		for (size_t i = 0; r->gateway && i < r->n_lan; i++) {
			if (r->lan[i].family != family)
				continue;
			u = q;
			u.iif_lo = false;
			u.src_len = r->lan[i].prefix;
			memcpy(u.src, r->lan[i].addr, nl_family_len(family));
			fn(&u, arg);
		}
	}
}

void nl_rules_for(const struct nl_routes *r, int family,
		      void (*fn)(const struct rule *u, void *arg), void *arg)
{
	const uint32_t p = r->priority;
	/* Where our own sockets (and, with the gateway, local traffic no rule took) go on. */
	const uint32_t skip = r->gateway ? p + 4 : p + 3;
	/* With the gateway, the rules for local processes must not take forwarded packets
	 * (looked up as uid 0, unmarked). */
	const bool lo = r->gateway;
	struct rule u;

	for (size_t i = 0; i < r->n_exclude; i++) {
		u = (struct rule){ .family = family, .prio = p, .action = FR_ACT_TO_TBL,
				   .table = RT_TABLE_MAIN, .uid = true, .uid_val = r->exclude_uids[i],
				   .iif_lo = lo };
		fn(&u, arg);
	}
	if (r->capture_dns)
		dns_rules_for(r, family, fn, arg);
	u = (struct rule){ .family = family, .prio = p + 1, .action = FR_ACT_TO_TBL,
			   .table = RT_TABLE_MAIN, .suppress = true };
	fn(&u, arg);
	if (!r->n_uids && !r->cgroup_mark && !r->gateway) {
		u = (struct rule){ .family = family, .prio = p + 2, .action = FR_ACT_TO_TBL,
				   .table = r->table, .invert = r->fwmark != 0, .mark = r->fwmark != 0,
				   .fwmark = r->fwmark };
		fn(&u, arg);
		return;
	}
	/* The goto's target first, then the goto, then the rules behind it (rules of one
	 * priority are kept in the order they were added; a swap leaves rules both sets
	 * have in place and adds the others behind them, so a rule whose place matters
	 * never has a twin in both sets above it). */
	u = (struct rule){ .family = family, .prio = skip, .action = FR_ACT_NOP };
	fn(&u, arg);
	if (r->fwmark) {
		u = (struct rule){ .family = family, .prio = p + 2, .action = FR_ACT_GOTO,
				   .target = skip, .mark = true, .fwmark = r->fwmark };
		fn(&u, arg);
	}
	if (!r->n_uids && !r->cgroup_mark) {
		u = (struct rule){ .family = family, .prio = p + 2, .action = FR_ACT_TO_TBL,
				   .table = r->table, .iif_lo = true };
		fn(&u, arg);
	}
	if (r->cgroup_mark) {
		u = (struct rule){ .family = family, .prio = p + 2, .action = FR_ACT_TO_TBL,
				   .table = r->table, .mark = true, .fwmark = r->cgroup_mark,
				   .iif_lo = lo };
		fn(&u, arg);
	}
	for (size_t i = 0; i < r->n_uids; i++) {
		u = (struct rule){ .family = family, .prio = p + 2, .action = FR_ACT_TO_TBL,
				   .table = r->table, .uid = true, .uid_val = r->uids[i], .iif_lo = lo };
		fn(&u, arg);
	}
	if (!r->gateway)
		return;
	/* Forwarded from the LAN: only they get past the first rule of p + 3. */
	u = (struct rule){ .family = family, .prio = p + 3, .action = FR_ACT_GOTO, .target = skip,
			   .iif_lo = true };
	fn(&u, arg);
	for (size_t i = 0; i < r->n_lan; i++) {
		if (r->lan[i].family != family)
			continue;
		u = (struct rule){ .family = family, .prio = p + 3, .action = FR_ACT_TO_TBL,
				   .table = r->table, .src_len = r->lan[i].prefix };
		memcpy(u.src, r->lan[i].addr, nl_family_len(family));
		fn(&u, arg);
	}
}

static void rule_add_cb(const struct rule *u, void *b)
{
	rule_add(b, u);
}

static void rules_add(struct nlb *b, const struct nl_routes *r, int family)
{
	nl_rules_for(r, family, rule_add_cb, b);
}

/* Our table for each family: the default route into the tun and the throw routes. */
static void routes_fill(struct nlb *b, const struct nl_routes *r, unsigned idx)
{
	const int families[2] = { AF_INET, AF_INET6 };

	for (int f = 0; f < nl_nfam(r); f++) {
		route_add(b, r, r->table, families[f], idx, NULL);
		if (r->capture_dns)
			route_add(b, r, NL_DNS_TABLE(r->table), families[f], idx, NULL);
		for (size_t i = 0; i < r->n_bypass; i++) {
			if (r->bypass[i].family == families[f])
				route_add(b, r, r->table, families[f], idx, &r->bypass[i]);
		}
	}
}

int nl_routes_install(const struct nl_routes *r, char *err, size_t errlen)
{
	const int families[2] = { AF_INET, AF_INET6 };
	const int nf = nl_nfam(r);
	struct nlb *b;
	unsigned idx;
	int rc;

	if (nl_routes_remove(r, err, errlen) < 0)
		return -1;
	idx = nl_ifindex(r->ifname, err, errlen);
	if (!idx)
		return -1;
	b = nlb_open(err, errlen);
	if (!b)
		return -1;
	/* The table is complete (every route acknowledged) before any rule leads into it. */
	routes_fill(b, r, idx);
	rc = nlb_flush(b);
	for (int f = 0; rc == 0 && f < nf; f++)
		rules_add(b, r, families[f]);
	if (rc == 0)
		rc = nlb_flush(b);
	nlb_close(b);
	if (rc < 0) {
		char err2[256];

		if (nl_routes_remove(r, err2, sizeof(err2)) < 0) {
			size_t n = strlen(err);

			snprintf(err + n, errlen - n, "; undoing it failed too: %s", err2);
		}
	}
	return rc;
}

/* ---- swapping ---- */

int nl_routes_swap(const struct nl_routes *from, const struct nl_routes *to, char *err,
		   size_t errlen)
{
	const int families[2] = { AF_INET, AF_INET6 };
	/* The new table alone; the old one alone; every rule of ours `to` does not add. */
	struct found fresh = { .r = to, .table = { to->table } };
	struct found old = { .r = to, .table = { from->table } };
	struct found stale = { .r = to, .table = { from->table, to->table }, .keep = to };
	struct found back = { .r = from, .table = { from->table, to->table }, .keep = from };
	struct nlb *b;
	unsigned idx;
	char err2[256];
	int rc;

	if (!to->table || to->table == from->table || to->priority != from->priority) {
		snprintf(err, errlen, "swapping routes from table %u to %u: needs another table at "
			 "the same priorities", from->table, to->table);
		return -1;
	}
	idx = nl_ifindex(to->ifname, err, errlen);
	if (!idx)
		return -1;
	b = nlb_open(err, errlen);
	if (!b)
		return -1;
	/* 1. The idle table: emptied of what a failed run may have left, then complete
	 * (every route acknowledged) before any rule leads into it. */
	rc = nl_remove_found(b, &fresh, false, true);
	if (rc == 0) {
		routes_fill(b, to, idx);
		rc = nlb_flush(b);
	}
	if (rc == 0 && to->fill)
		rc = to->fill(to->table, to->fill_arg, err, errlen);
	/* 2. The new rules, each behind its old twin of equal priority. */
	for (int f = 0; rc == 0 && f < nl_nfam(to); f++)
		rules_add(b, to, families[f]);
	if (rc == 0)
		rc = nlb_flush(b);
	nlb_close(b);
	if (rc < 0)
		goto undo;
	/* 3. The old rules, then the old table. The swap is done whatever fails here. */
	b = nlb_open(err, errlen);
	if (!b)
		return 1;
	rc = nl_remove_found(b, &stale, true, false);
	if (rc == 0)
		rc = nl_remove_found(b, &old, false, true);
	nlb_close(b);
	return rc < 0 ? 1 : 0;
undo:
	/* The rules `from` does not have, then the new table: back to where we were. */
	b = nlb_open(err2, sizeof(err2));
	if (!b || nl_remove_found(b, &back, true, false) < 0 || nl_remove_found(b, &fresh, false, true) < 0) {
		size_t n = strlen(err);

		snprintf(err + n, errlen - n, "; undoing it failed too: %s", err2);
	}
	nlb_close(b);
	return -1;
}

int nl_routes_adopt(const struct nl_routes *r, uint32_t in_use, char *err, size_t errlen)
{
	struct nl_routes from = *r;

	from.table = in_use;
	from.other_table = r->table;
	return nl_routes_swap(&from, r, err, errlen);
}
