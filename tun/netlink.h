/* netlink.h -- rtnetlink for tun mode: the policy routing that sends traffic into the
 * tun (wg-quick style). The link's own settings are in nllink.h. */
#ifndef SNET_NETLINK_H
#define SNET_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cidr;

/* Policy routing into the tun, per family (IPv4, and IPv6 when ipv6):
 *
 *   table `table`:  default dev IFNAME; throw <bypass CIDR> (lookup goes on to main)
 *   priority+0:     uidrange U-U lookup main                  each exclude uid
 *   priority+1:     lookup main suppress_prefixlength 0       main's specific routes win
 *   priority+2:     not fwmark FWMARK lookup TABLE            no uids given
 *   priority+2:     fwmark FWMARK goto priority+3             uids given: our own sockets
 *                   uidrange U-U lookup TABLE                 skip the uid rules; one
 *   priority+3:     nop                                       rule per uid
 *
 * With cgroup_mark, `fwmark CGMARK lookup TABLE` joins the uid rules (iif lo with the
 * gateway); with it and no uids, it alone takes local traffic into the table.
 *
 * (An inverted rule inverts all its selectors together, so `not fwmark M uidrange U`
 * would match every other user: hence the goto in the uid case.)
 *
 * With gateway, forwarded packets from the LAN's source ranges go into the table too,
 * and only those: the kernel looks up a forwarded packet as uid 0 without a mark, so
 * the rules meant for local processes get `iif lo` (locally generated), and
 *
 *   priority+2:     fwmark FWMARK goto priority+4             our own sockets
 *   priority+2:     iif lo lookup TABLE                       no uids given (or, with
 *                                                             uids, iif lo uidrange U-U)
 *   priority+3:     iif lo goto priority+4                    local traffic stops here
 *                   from LAN lookup TABLE                     each LAN range
 *   priority+4:     nop
 *
 * The LAN's traffic to the LAN itself and to the machine keeps main's routes (the
 * local table, and priority+1).
 *
 * With capture_dns, every DNS query (UDP and TCP to port 53, whatever its destination)
 * goes into the tun, ahead of main's specific routes and of the bypass: a resolver on a
 * bypassed LAN is asked through snet-tun too. Its own table, NL_DNS_TABLE(table), holds
 * the default route alone (the unreachable one for blocked IPv6), and the rules sit at
 * priority+0 behind the excluded uids:
 *
 *   priority+0:     fwmark FWMARK goto priority+1             our own queries
 *                   ipproto udp dport 53 lookup DNS-TABLE     and tcp; per uid with uids
 *                                                             (uidrange U-U), iif lo with
 *                   from LAN ipproto udp dport 53 lookup ...  the gateway, and per LAN range
 *
 * Two tables take turns (table and other_table): a reload fills the one not in use and
 * then moves the rules over to it (nl_routes_swap), so there is never a moment without
 * them. Removal and nl_routes_present look at both. */
/* The table that holds the DNS capture's single default route, beside table t. */
#define NL_DNS_TABLE(t) ((t) + 2)

struct nl_routes {
	const char *ifname;
	uint32_t table; /* our routing table, e.g. 0x534e: the one installed into */
	uint32_t other_table; /* its twin for swaps, e.g. 0x534f; 0: none */
	uint32_t fwmark; /* marks our own upstream sockets: never routed into the tun; not 0 */
	uint32_t priority; /* first rule priority we use, e.g. 5200; we use up to five */
	bool ipv6;
	bool block_ipv6; /* without ipv6: IPv6 gets the same rules and an unreachable default
			  * route in our table, so it fails rather than goes around the tun */
	const struct cidr *bypass; /* v4 and v6 mixed: stay out of the tun */
	size_t n_bypass;
	const uint32_t *uids; /* empty: every user */
	size_t n_uids;
	const uint32_t *exclude_uids;
	size_t n_exclude;
	bool gateway; /* forwarded traffic from `lan` is captured too (see above) */
	const struct cidr *lan; /* v4 and v6 mixed */
	size_t n_lan;
	bool capture_dns; /* every query to port 53 into the tun, bypass or not (see above) */
	/* capture.cgroups: packets carrying this mark (set by nft on those groups' sockets)
	 * go into the table, like one more uid: `fwmark M lookup TABLE` at priority+2 (and
	 * for DNS); without uids, nothing else does. 0: none. */
	uint32_t cgroup_mark;
	/* Optional: called by nl_routes_swap once `table` holds the routes above and before
	 * any rule leads into it, to add routes of the caller's own (e.g. host routes for
	 * learned addresses), so the table is complete when it takes over. 0, or -1 with err
	 * set (the swap is then undone). */
	int (*fill)(uint32_t table, void *arg, char *err, size_t errlen);
	void *fill_arg;
};

/* Removes what is left of an earlier install (both tables), then installs into
 * r->table; a failure half-way removes what was added. Messages go out in batches, every
 * acknowledgement is checked, and the error names the first failing route or rule.
 * 0 or -1, err set. */
int nl_routes_install(const struct nl_routes *r, char *err, size_t errlen);

/* Replaces the installed `from` by `to` (to->table != from->table, same priorities)
 * with no moment in which traffic is not captured: to->table is emptied and filled
 * completely; then to's rules are added (at equal priorities the kernel keeps the older
 * rule first, so from's rules still decide); then every rule of ours that `to` does not
 * have is deleted (rules both have stay untouched) and from->table is emptied.
 * 0 swapped; 1 swapped, but something of `from` could not be removed (err says what;
 * nl_routes_remove clears it later); -1 nothing changed (what was added is undone), err
 * set. */
int nl_routes_swap(const struct nl_routes *from, const struct nl_routes *to, char *err,
		   size_t errlen);

/* Whether an earlier install is in place (IPv4: a rule at priority+2 looking up one of
 * the two tables and that table's default route), e.g. by `snet-tun --setup`. Needs no
 * privilege. 1, 0, or -1 err set. With `table` set, *table is the one in use. */
int nl_routes_present(const struct nl_routes *r, uint32_t *table, char *err, size_t errlen);

/* Takes over what an earlier run left in place (a crash: nl_routes_present said 1 and
 * gave `in_use`): r->table must be the other one of the two, into which r is swapped
 * from it without a moment uncaptured. Return values as nl_routes_swap. */
int nl_routes_adopt(const struct nl_routes *r, uint32_t in_use, char *err, size_t errlen);

/* Removes every rule (both families) whose priority is one of ours or that looks up one
 * of our two tables, and empties both tables; missing pieces are not errors. 0 or -1,
 * err set. */
int nl_routes_remove(const struct nl_routes *r, char *err, size_t errlen);

#endif
