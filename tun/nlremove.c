/* nlremove.c -- removing tun mode's policy routing by what the kernel reports, not by what
 * we remember: every rule at one of our priorities or looking up one of our tables, and
 * every route in one of our tables, is dumped and sent back as a delete, so a run that
 * was killed half-way is cleaned up just the same. A swap's selection can keep the rules
 * the new set installs (dumped rules compared field by field with what nl_rules_for
 * describes). Also nl_routes_present, which dumps to find what an earlier run left. */
#include "tun/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "tun/nl_internal.h"
#include "tun/nlbatch.h"

#define NL_PRIORITIES 5 /* priority .. priority+4 (the last two with the gateway) */

/* ---- which dumped rules a set of routes installs ---- */

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

	if (u->family != AF_INET && (u->family != AF_INET6 || nl_nfam(r) < 2))
		return false;
	nl_rules_for(r, u->family, rule_match_cb, &w);
	return w.hit;
}

/* ---- removing ---- */

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
			nlb_done(b, ENOENT, ESRCH, "removing %s rule %u", nl_family_name(family), prio);
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

	snprintf(what, sizeof(what), "listing %s %s", nl_family_name(family), rules ? "rules" : "routes");
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
int nl_remove_found(struct nlb *b, const struct found *sel, bool rules, bool routes)
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
	rc = nl_remove_found(b, &all, true, true);
	nlb_close(b);
	return rc;
}
