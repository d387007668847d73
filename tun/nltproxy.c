/* nltproxy.c -- TPROXY's policy rule and local default route (see nltproxy.h), through
 * nlbatch. */
#include "tun/nltproxy.h"

#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "tun/nl_internal.h"
#include "tun/nlbatch.h"

#define ROOM 256

static void rule_msg(struct nlb *b, const struct nl_tproxy *t, int family, bool add)
{
	struct nlmsghdr *nlh = nlb_put(b, add ? RTM_NEWRULE : RTM_DELRULE,
				       add ? NLM_F_CREATE | NLM_F_EXCL : 0, ROOM);
	struct fib_rule_hdr *h;

	if (!nlh)
		return;
	h = mnl_nlmsg_put_extra_header(nlh, sizeof(*h));
	h->family = (uint8_t)family;
	h->action = FR_ACT_TO_TBL;
	h->table = t->table < 256 ? (uint8_t)t->table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, t->priority);
	if (add) { /* removal matches by priority and table: whatever mark an earlier run used */
		mnl_attr_put_u32(nlh, FRA_FWMARK, t->mark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffff);
	}
	mnl_attr_put_u32(nlh, FRA_TABLE, t->table);
	nlb_done(b, add ? 0 : ENOENT, add ? 0 : ESRCH, "%s %s rule %u: fwmark 0x%x lookup %u",
		 add ? "adding" : "removing", nl_family_name(family), t->priority, t->mark, t->table);
}

static void route_msg(struct nlb *b, const struct nl_tproxy *t, int family, unsigned lo,
		      bool add)
{
	struct nlmsghdr *nlh = nlb_put(b, add ? RTM_NEWROUTE : RTM_DELROUTE,
				       add ? NLM_F_CREATE | NLM_F_REPLACE : 0, ROOM);
	struct rtmsg *rtm;

	if (!nlh)
		return;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_table = t->table < 256 ? (uint8_t)t->table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = add ? RT_SCOPE_HOST : RT_SCOPE_NOWHERE;
	rtm->rtm_type = RTN_LOCAL;
	mnl_attr_put_u32(nlh, RTA_TABLE, t->table);
	if (add)
		mnl_attr_put_u32(nlh, RTA_OIF, lo);
	nlb_done(b, add ? 0 : ESRCH, add ? 0 : ENOENT, "%s %s local default route dev lo %s table %u",
		 add ? "adding" : "removing", nl_family_name(family), add ? "to" : "from", t->table);
}

/* Both families' rules, then routes, removed; each missing piece is fine. */
static int remove_all(const struct nl_tproxy *t, char *err, size_t errlen)
{
	struct nlb *b = nlb_open(err, errlen);
	int rc;

	if (!b)
		return -1;
	for (int i = 0; i < 2; i++)
		rule_msg(b, t, i ? AF_INET6 : AF_INET, false);
	for (int i = 0; i < 2; i++)
		route_msg(b, t, i ? AF_INET6 : AF_INET, 0, false);
	rc = nlb_flush(b);
	nlb_close(b);
	return rc;
}

int nl_tproxy_remove(const struct nl_tproxy *t, char *err, size_t errlen)
{
	return remove_all(t, err, errlen);
}

int nl_tproxy_install(const struct nl_tproxy *t, char *err, size_t errlen)
{
	unsigned lo = nl_ifindex("lo", err, errlen);
	struct nlb *b;
	int rc;

	if (!lo || remove_all(t, err, errlen) < 0)
		return -1;
	b = nlb_open(err, errlen);
	if (!b)
		return -1;
	/* The routes before the rules that lead to them. */
	for (int i = 0; i < (t->ipv6 ? 2 : 1); i++)
		route_msg(b, t, i ? AF_INET6 : AF_INET, lo, true);
	for (int i = 0; i < (t->ipv6 ? 2 : 1); i++)
		rule_msg(b, t, i ? AF_INET6 : AF_INET, true);
	rc = nlb_flush(b);
	nlb_close(b);
	if (rc < 0) {
		char why[256];

		remove_all(t, why, sizeof(why));
	}
	return rc;
}
