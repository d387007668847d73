/* netlink.c -- rtnetlink for tun mode: the tun's MTU, addresses and link state, and the
 * policy routing (our table and rules, wg-quick style) that sends traffic into it.
 *
 * Everything is said to the kernel directly (no `ip`), through nlbatch so thousands of
 * bypass routes cost a few dozen round trips. Removal is by what the kernel reports, not
 * by what we remember: every rule at one of our priorities or looking up our table, and
 * every route in our table, is dumped and sent back as a delete, so a run that was
 * killed half-way is cleaned up just the same.
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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "tun/nlbatch.h"

#define NL_PRIORITIES 5 /* priority .. priority+4 (the last two with the gateway) */
#define NL_ROOM 512 /* bytes any request we build fits in */

static const char *family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

/* ---- installing routes and rules ---- */

/* Families with rules and a table: IPv6 too with an IPv6 address, or to block it. */
static int nfam(const struct nl_routes *r)
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
		nlb_done(b, 0, 0, "adding %s default route dev %s to table %u", family_name(family),
			 r->ifname, table);
	}
}

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
	nlb_done(b, EEXIST, 0, "adding %s rule %u: %s%s", family_name(u->family), u->prio, sel, act);
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

		if (!r->n_uids)
			fn(&q, arg);
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

/* Calls fn for each rule r installs in one family, in the order they are added. */
static void rules_for(const struct nl_routes *r, int family,
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
	if (!r->n_uids && !r->gateway) {
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
	if (!r->n_uids) {
		u = (struct rule){ .family = family, .prio = p + 2, .action = FR_ACT_TO_TBL,
				   .table = r->table, .iif_lo = true };
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
	rules_for(r, family, rule_add_cb, b);
}

/* Our table for each family: the default route into the tun and the throw routes. */
static void routes_fill(struct nlb *b, const struct nl_routes *r, unsigned idx)
{
	const int families[2] = { AF_INET, AF_INET6 };

	for (int f = 0; f < nfam(r); f++) {
		route_add(b, r, r->table, families[f], idx, NULL);
		if (r->capture_dns)
			route_add(b, r, NL_DNS_TABLE(r->table), families[f], idx, NULL);
		for (size_t i = 0; i < r->n_bypass; i++) {
			if (r->bypass[i].family == families[f])
				route_add(b, r, r->table, families[f], idx, &r->bypass[i]);
		}
	}
}

/* A dumped rule as a struct rule. -1 when the message is not a rule. */
static int rule_parse(const struct nlmsghdr *nlh, struct rule *u)
{
	const struct fib_rule_hdr *h = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	uint32_t mask = 0xffffffff;

	if (nlh->nlmsg_type != RTM_NEWRULE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*h)))
		return -1;
	*u = (struct rule){ .family = h->family, .action = h->action, .table = h->table,
			    .invert = (h->flags & FIB_RULE_INVERT) != 0, .src_len = h->src_len,
			    .odd = h->dst_len || h->tos ||
				   h->src_len > 8 * nl_family_len(h->family) };
	mnl_attr_for_each(a, nlh, sizeof(*h)) {
		uint16_t type = mnl_attr_get_type(a);
		uint32_t v = 0;

		switch (type) {
		case FRA_PRIORITY:
		case FRA_TABLE:
		case FRA_GOTO:
		case FRA_FWMARK:
		case FRA_FWMASK:
		case FRA_SUPPRESS_PREFIXLEN:
		case FRA_SUPPRESS_IFGROUP:
			if (mnl_attr_validate(a, MNL_TYPE_U32) < 0) {
				u->odd = true;
				continue;
			}
			v = mnl_attr_get_u32(a);
			break;
		case FRA_UID_RANGE: {
			struct fib_rule_uid_range range;

			if (mnl_attr_get_payload_len(a) != sizeof(range)) {
				u->odd = true;
				continue;
			}
			memcpy(&range, mnl_attr_get_payload(a), sizeof(range));
			u->uid = true;
			u->uid_val = range.start;
			u->odd |= range.start != range.end;
			continue;
		}
		case FRA_SRC:
			if (mnl_attr_get_payload_len(a) != nl_family_len(h->family)) {
				u->odd = true;
				continue;
			}
			memcpy(u->src, mnl_attr_get_payload(a), nl_family_len(h->family));
			continue;
		case FRA_IIFNAME:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0 ||
			    strcmp(mnl_attr_get_str(a), "lo") != 0)
				u->odd = true;
			else
				u->iif_lo = true;
			continue;
		case FRA_IP_PROTO:
			if (mnl_attr_validate(a, MNL_TYPE_U8) < 0)
				u->odd = true;
			else
				u->ipproto = mnl_attr_get_u8(a);
			continue;
		case FRA_DPORT_RANGE: {
			struct fib_rule_port_range range;

			if (mnl_attr_get_payload_len(a) != sizeof(range)) {
				u->odd = true;
				continue;
			}
			memcpy(&range, mnl_attr_get_payload(a), sizeof(range));
			u->dport = range.start;
			u->odd |= range.start != range.end || !range.start;
			continue;
		}
		case FRA_DST:
		case FRA_OIFNAME:
		case FRA_FLOW:
		case FRA_TUN_ID:
		case FRA_L3MDEV:
		case FRA_SPORT_RANGE:
			u->odd = true;
			continue;
		default:
			continue;
		}
		if (type == FRA_PRIORITY)
			u->prio = v;
		else if (type == FRA_TABLE)
			u->table = v;
		else if (type == FRA_GOTO)
			u->target = v;
		else if (type == FRA_FWMARK)
			u->mark = true, u->fwmark = v;
		else if (type == FRA_FWMASK)
			mask = v;
		else if (type == FRA_SUPPRESS_PREFIXLEN)
			u->suppress = v == 0, u->odd |= v != 0 && v != 0xffffffff;
		else /* FRA_SUPPRESS_IFGROUP */
			u->odd |= v != 0xffffffff;
	}
	u->odd |= u->mark && mask != 0xffffffff;
	if (u->action != FR_ACT_TO_TBL)
		u->table = 0;
	return 0;
}

static bool rule_same(const struct rule *a, const struct rule *b)
{
	return !a->odd && !b->odd && a->family == b->family && a->prio == b->prio &&
	       a->action == b->action && a->invert == b->invert && a->suppress == b->suppress &&
	       (a->action != FR_ACT_TO_TBL || a->table == b->table) &&
	       (a->action != FR_ACT_GOTO || a->target == b->target) && a->mark == b->mark &&
	       (!a->mark || a->fwmark == b->fwmark) && a->uid == b->uid &&
	       (!a->uid || a->uid_val == b->uid_val) && a->iif_lo == b->iif_lo &&
	       a->src_len == b->src_len &&
	       (!a->src_len || !memcmp(a->src, b->src, nl_family_len(a->family))) &&
	       a->ipproto == b->ipproto && a->dport == b->dport;
}

struct wanted {
	const struct rule *u;
	bool hit;
};

static void rule_match_cb(const struct rule *u, void *arg)
{
	struct wanted *w = arg;

	w->hit |= rule_same(u, w->u);
}

/* Whether installing r adds this (dumped) rule. */
static bool rule_wanted(const struct nl_routes *r, const struct rule *u)
{
	struct wanted w = { .u = u };

	if (u->family != AF_INET && (u->family != AF_INET6 || nfam(r) < 2))
		return false;
	rules_for(r, u->family, rule_match_cb, &w);
	return w.hit;
}

int nl_routes_install(const struct nl_routes *r, char *err, size_t errlen)
{
	const int families[2] = { AF_INET, AF_INET6 };
	const int nf = nfam(r);
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

/* ---- removing ---- */

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

/* Everything of r's, in both of its tables. */
static struct found found_all(const struct nl_routes *r)
{
	return (struct found){ .r = r, .table = { r->table, r->other_table } };
}

/* One of f's tables, or the DNS table beside one. */
static bool found_table(const struct found *f, uint32_t table)
{
	for (int i = 0; i < 2; i++) {
		if (f->table[i] && (table == f->table[i] || table == NL_DNS_TABLE(f->table[i])))
			return true;
	}
	return false;
}

static int found_add(struct found *f, const struct nlmsghdr *nlh)
{
	size_t need = MNL_ALIGN(nlh->nlmsg_len);

	if (f->len + need > f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16384;
		char *v;

		while (cap < f->len + need)
			cap *= 2;
		v = realloc(f->v, cap);
		if (!v) {
			errno = ENOMEM;
			return -1;
		}
		f->v = v;
		f->cap = cap;
	}
	memcpy(f->v + f->len, nlh, nlh->nlmsg_len);
	f->len += need;
	return 0;
}

/* A dumped rule's priority and table. -1 when the message is not a rule. */
static int rule_info(const struct nlmsghdr *nlh, uint32_t *prio, uint32_t *table)
{
	const struct fib_rule_hdr *h = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWRULE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*h)))
		return -1;
	*prio = 0;
	*table = h->action == FR_ACT_TO_TBL ? h->table : 0;
	mnl_attr_for_each(a, nlh, sizeof(*h)) {
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			continue;
		if (mnl_attr_get_type(a) == FRA_PRIORITY)
			*prio = mnl_attr_get_u32(a);
		else if (mnl_attr_get_type(a) == FRA_TABLE && h->action == FR_ACT_TO_TBL)
			*table = mnl_attr_get_u32(a);
	}
	return 0;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct found *f = data;
	uint32_t prio, table;
	struct rule u;

	if (rule_info(nlh, &prio, &table) < 0)
		return MNL_CB_OK;
	if (!(prio >= f->r->priority && prio - f->r->priority < NL_PRIORITIES) &&
	    !found_table(f, table))
		return MNL_CB_OK;
	if (f->keep && rule_parse(nlh, &u) == 0 && rule_wanted(f->keep, &u))
		return MNL_CB_OK;
	return found_add(f, nlh) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* A dumped route's table and destination (prefix 0 when it has none). */
static int route_info(const struct nlmsghdr *nlh, uint32_t *table, struct cidr *dst)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*rtm)))
		return -1;
	*table = rtm->rtm_table;
	memset(dst, 0, sizeof(*dst));
	dst->family = rtm->rtm_family;
	dst->prefix = rtm->rtm_dst_len;
	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		if (mnl_attr_get_type(a) == RTA_TABLE && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			*table = mnl_attr_get_u32(a);
		else if (mnl_attr_get_type(a) == RTA_DST &&
			 mnl_attr_get_payload_len(a) <= sizeof(dst->addr))
			memcpy(dst->addr, mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
	}
	return 0;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct found *f = data;
	struct cidr dst;
	uint32_t table;

	if (route_info(nlh, &table, &dst) < 0 || !found_table(f, table))
		return MNL_CB_OK;
	return found_add(f, nlh) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* Sends each found message back as a delete; already gone is fine. */
static void found_delete(struct nlb *b, const struct found *f, uint16_t type, int family)
{
	for (size_t off = 0; off < f->len;) {
		const struct nlmsghdr *src = (const struct nlmsghdr *)(f->v + off);
		size_t plen = src->nlmsg_len - MNL_NLMSG_HDRLEN;
		struct nlmsghdr *nlh = nlb_put(b, type, 0, MNL_ALIGN(src->nlmsg_len));
		char s[INET6_ADDRSTRLEN + 4];
		uint32_t prio, table;
		struct cidr dst;

		if (!nlh)
			return;
		memcpy(mnl_nlmsg_put_extra_header(nlh, plen), mnl_nlmsg_get_payload(src), plen);
		if (type == RTM_DELRULE) {
			rule_info(src, &prio, &table);
			nlb_done(b, ENOENT, ESRCH, "removing %s rule %u", family_name(family), prio);
		} else {
			route_info(src, &table, &dst);
			nlb_done(b, ENOENT, ESRCH, "removing route %s from table %u",
				 dst.prefix ? nl_cidr_str(&dst, s, sizeof(s)) : "default", table);
		}
		off += MNL_ALIGN(src->nlmsg_len);
	}
}

/* Dumps rules or routes of one family, then deletes those sel says are ours. */
static int remove_dumped(struct nlb *b, const struct found *sel, int family, bool rules)
{
	struct found f = { .r = sel->r, .table = { sel->table[0], sel->table[1] }, .keep = sel->keep };
	char what[64];
	int rc;

	snprintf(what, sizeof(what), "listing %s %s", family_name(family), rules ? "rules" : "routes");
	if (rules) {
		struct fib_rule_hdr h = { .family = (uint8_t)family };

		rc = nlb_dump(b, RTM_GETRULE, &h, sizeof(h), rule_cb, &f, EAFNOSUPPORT, what);
	} else {
		struct rtmsg h = { .rtm_family = (uint8_t)family };

		rc = nlb_dump(b, RTM_GETROUTE, &h, sizeof(h), route_cb, &f, EAFNOSUPPORT, what);
	}
	if (rc == 0) {
		found_delete(b, &f, rules ? RTM_DELRULE : RTM_DELROUTE, family);
		rc = nlb_flush(b);
	}
	free(f.v);
	return rc;
}

/* How many of the found messages are rules at priority+2 looking up `table` (the ones
 * leading into it), or default routes (no destination) in `table`. */
static size_t found_count(const struct found *f, const struct nl_routes *r, bool rules,
			  uint32_t table)
{
	size_t n = 0;

	for (size_t off = 0; off < f->len;) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(f->v + off);
		uint32_t prio, t;
		struct cidr dst;

		if (rules && rule_info(nlh, &prio, &t) == 0 && prio == r->priority + 2 && t == table)
			n++;
		else if (!rules && route_info(nlh, &t, &dst) == 0 && dst.prefix == 0 && t == table)
			n++;
		off += MNL_ALIGN(nlh->nlmsg_len);
	}
	return n;
}

int nl_routes_present(const struct nl_routes *r, uint32_t *table, char *err, size_t errlen)
{
	struct found rules = found_all(r), routes = found_all(r);
	struct fib_rule_hdr rh = { .family = AF_INET };
	struct rtmsg th = { .rtm_family = AF_INET };
	struct nlb *b = nlb_open(err, errlen);
	int rc;

	if (!b)
		return -1;
	rc = nlb_dump(b, RTM_GETRULE, &rh, sizeof(rh), rule_cb, &rules, 0, "listing IPv4 rules");
	if (rc == 0)
		rc = nlb_dump(b, RTM_GETROUTE, &th, sizeof(th), route_cb, &routes, 0,
			      "listing IPv4 routes");
	/* Either table, whichever the last swap left in use. */
	for (int i = 0; rc == 0 && i < 2; i++) {
		if (rules.table[i] && found_count(&rules, r, true, rules.table[i]) > 0 &&
		    found_count(&routes, r, false, rules.table[i]) > 0) {
			rc = 1;
			if (table)
				*table = rules.table[i];
		}
	}
	free(rules.v);
	free(routes.v);
	nlb_close(b);
	return rc;
}

/* Rules first, so nothing is routed into a table while it empties. */
static int remove_found(struct nlb *b, const struct found *sel, bool rules, bool routes)
{
	int rc = 0;

	if (rules)
		rc = remove_dumped(b, sel, AF_INET, true);
	if (rc == 0 && rules)
		rc = remove_dumped(b, sel, AF_INET6, true);
	if (rc == 0 && routes)
		rc = remove_dumped(b, sel, AF_INET, false);
	if (rc == 0 && routes)
		rc = remove_dumped(b, sel, AF_INET6, false);
	return rc;
}

int nl_routes_remove(const struct nl_routes *r, char *err, size_t errlen)
{
	struct found all = found_all(r);
	struct nlb *b = nlb_open(err, errlen);
	int rc;

	if (!b)
		return -1;
	rc = remove_found(b, &all, true, true);
	nlb_close(b);
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
	rc = remove_found(b, &fresh, false, true);
	if (rc == 0) {
		routes_fill(b, to, idx);
		rc = nlb_flush(b);
	}
	if (rc == 0 && to->fill)
		rc = to->fill(to->table, to->fill_arg, err, errlen);
	/* 2. The new rules, each behind its old twin of equal priority. */
	for (int f = 0; rc == 0 && f < nfam(to); f++)
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
	rc = remove_found(b, &stale, true, false);
	if (rc == 0)
		rc = remove_found(b, &old, false, true);
	nlb_close(b);
	return rc < 0 ? 1 : 0;
undo:
	/* The rules `from` does not have, then the new table: back to where we were. */
	b = nlb_open(err2, sizeof(err2));
	if (!b || remove_found(b, &back, true, false) < 0 || remove_found(b, &fresh, false, true) < 0) {
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
