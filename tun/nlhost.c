/* nlhost.c -- host routes for learned addresses (see nlhost.h), through nlbatch. */
#include "tun/nlhost.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "tun/nlbatch.h"

#define ROOM 256

int nl_hosts_apply(const char *ifname, uint32_t table, const struct nl_host *v, size_t n,
		   bool add, char *err, size_t errlen)
{
	unsigned idx = if_nametoindex(ifname);
	struct nlb *b;
	int rc;

	if (n == 0)
		return 0;
	if (!idx) {
		snprintf(err, errlen, "interface %s: %s", ifname, strerror(errno));
		return -1;
	}
	b = nlb_open(err, errlen);
	if (!b)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct nlmsghdr *nlh = nlb_put(b, add ? RTM_NEWROUTE : RTM_DELROUTE,
					       add ? NLM_F_CREATE | NLM_F_REPLACE : 0, ROOM);
		struct rtmsg *rtm;
		char a[INET6_ADDRSTRLEN];
		size_t alen = v[i].family == AF_INET ? 4 : 16;

		if (!nlh)
			break;
		rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
		rtm->rtm_family = (uint8_t)v[i].family;
		rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
		rtm->rtm_protocol = RTPROT_STATIC;
		rtm->rtm_dst_len = (uint8_t)(alen * 8);
		rtm->rtm_scope = RT_SCOPE_UNIVERSE;
		rtm->rtm_type = v[i].unreachable ? RTN_UNREACHABLE
				: v[i].via_tun	 ? RTN_UNICAST
						 : RTN_THROW;
		mnl_attr_put_u32(nlh, RTA_TABLE, table);
		mnl_attr_put(nlh, RTA_DST, alen, v[i].addr);
		if (v[i].via_tun && !v[i].unreachable) {
			if (v[i].family == AF_INET)
				rtm->rtm_scope = RT_SCOPE_LINK;
			mnl_attr_put_u32(nlh, RTA_OIF, idx);
		}
		inet_ntop(v[i].family, v[i].addr, a, sizeof(a));
		nlb_done(b, add ? 0 : ESRCH, add ? 0 : ENOENT, "%s %s route %s to table %u",
			 add ? "adding" : "deleting",
			 v[i].unreachable ? "unreachable" : v[i].via_tun ? "tun" : "throw", a, table);
	}
	rc = nlb_flush(b);
	nlb_close(b);
	return rc;
}
