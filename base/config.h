/* config.h -- the typed configuration: one struct, filled from YAML by config.c (the section
 * tables are in config_keys_*.c). Each module's _init receives its own part (config_proxy,
 * config_redirect, ...). */
#ifndef SNET_CONFIG_H
#define SNET_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/log.h"

struct domainset;

#define CONFIG_HOST_MAX 256
#define CONFIG_PATH_MAX 4096

/* An address with a prefix; a plain address has prefix 32 or 128. */
struct cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
	uint8_t prefix;
};

struct cidr_list {
	struct cidr *v;
	size_t n;
};

struct str_list {
	char **v;
	size_t n;
};

struct uid_list {
	uint32_t *v;
	size_t n;
};

/* "host" or "host:port" / "[v6]:port"; host is an IP literal or a name. */
struct host_port {
	char host[CONFIG_HOST_MAX];
	uint16_t port;
};

struct host_port_list {
	struct host_port *v;
	size_t n;
};

enum run_mode { MODE_TUN = 0, MODE_REDIRECT };
enum proxy_type {
	PROXY_TYPE_SS = 0,
	PROXY_TYPE_HTTP,
	PROXY_TYPE_SOCKS5,
	PROXY_TYPE_DIRECT,
	PROXY_TYPE_HTTPS, /* HTTP CONNECT over TLS */
};
enum rules_scope { SCOPE_GLOBAL = 0, SCOPE_BYPASS_CN };

struct config_proxy {
	char name[64]; /* for logs; default "proxy" (proxy:) or "proxyN" (proxies:) */
	enum proxy_type type;
	char server[CONFIG_HOST_MAX]; /* required unless type is direct */
	uint16_t port; /* required unless type is direct */
	char method[64]; /* ss; default chacha20-ietf-poly1305 */
	char password[256]; /* ss: required; http/socks5: optional */
	char username[256];
	bool udp; /* default true */
	unsigned connect_timeout; /* seconds, 1..3600, default 10 */
	unsigned idle_timeout; /* seconds, 0 = never (the default) */
	unsigned keepalive; /* seconds of silence before TCP keepalive probes, 0 = off, default 60 */
	char ca_file[CONFIG_PATH_MAX]; /* https: CAs to verify the server with; "" = the system's */
	bool insecure; /* https: no certificate verification (warned about) */
};

#define CONFIG_PROXIES_MAX 16

enum upstream_policy { UPSTREAM_FAILOVER = 0, UPSTREAM_FASTEST, UPSTREAM_ROUND_ROBIN };

/* How one of several upstreams (proxies:) is chosen, and how their health is checked. */
struct config_upstream {
	enum upstream_policy policy; /* default failover */
	char check_url[512]; /* http://HOST[:PORT]/PATH, fetched through each upstream */
	char check_host[CONFIG_HOST_MAX]; /* its parts */
	uint16_t check_port;
	char check_path[384];
	unsigned check_interval; /* seconds, 0 = no active checks; default 30 */
	unsigned check_timeout; /* seconds, 1..300; default 5 */
};

struct config_tun {
	char name[16]; /* IFNAMSIZ; default snet0 */
	struct cidr address; /* default 198.18.255.1/30 */
	bool has_address6;
	struct cidr address6;
	unsigned mtu; /* 576..65535, default 1500 */
	bool auto_route; /* default true */
	struct uid_list uids;
	struct uid_list exclude_uids;
	unsigned udp_timeout; /* seconds an idle UDP flow lives, 1..3600, default 60 */
	unsigned udp_max_flows; /* UDP flows at once, 1..65536, default 1024 (oldest goes) */
};

/* How redirect mode's rules hand the machine's TCP to the listener. */
enum redirect_method {
	REDIRECT_METHOD_REDIRECT = 0, /* nft redirect (NAT), SO_ORIGINAL_DST */
	REDIRECT_METHOD_TPROXY, /* nft tproxy, a transparent listener, getsockname */
};

struct config_redirect {
	struct sockaddr_storage listen; /* default 127.0.0.1:1111 */
	socklen_t listen_len;
	bool install_rules; /* default true */
	enum redirect_method method; /* default redirect; needs a restart */
	struct uid_list uids; /* only these users' sockets are redirected (empty: every user) */
	struct uid_list exclude_uids; /* these users' never are */
};

/* capture: what is captured in either mode. */
struct config_capture {
	/* cgroups: cgroup-v2 paths relative to the cgroup2 root, without a leading '/'
	 * (empty: every process is captured). */
	struct str_list cgroups;
};

struct config_rules {
	enum rules_scope scope;
	/* bypass-cn without either file: both found by config_find_cn_data (cn_default). */
	char cn_cidr_file[CONFIG_PATH_MAX];
	char cn_cidr6_file[CONFIG_PATH_MAX];
	bool cn_default;
	struct cidr_list cn_cidrs; /* both files' networks, loaded whenever one is set */
	size_t cn_n4, cn_n6; /* of them, from cn_cidr_file and from cn_cidr6_file */
	struct cidr_list bypass_cidrs; /* bypass-cidrs plus every bypass-cidr-files entry */
	struct str_list bypass_cidr_files;
	struct str_list bypass_domains;
	struct str_list proxy_domains; /* through the proxy even inside a bypass CIDR */
	struct str_list block_domains;
	struct str_list block_domain_files;
	struct domainset *block_set; /* their names; NULL without block-domain-files */
	double block_load_ms; /* time reading and sorting them */
	/* Traffic the capture cannot carry is rejected, never sent around it: redirect mode
	 * UDP but DNS, ICMP, IPv6 without the IPv6 listener; tun mode IPv6 without
	 * tun.address6. Default true. */
	bool block_uncaptured;
};

struct dns_host {
	char *name;
	struct cidr *addrs; /* prefix is the full length */
	size_t n;
};

/* dns.fake-ip: A/AAAA answers for proxied names from a private pool mapped to the name;
 * tun mode opens connections to such an address at the proxy by name. */
struct config_fake_ip {
	bool enable; /* default false */
	struct cidr range; /* IPv4 pool, default 198.19.0.0/16 */
	bool has_range6;
	struct cidr range6; /* IPv6 pool, optional */
	unsigned size; /* names mapped at once (LRU), 16..1048576, default 65536 */
};

struct config_dns {
	bool enable; /* default true */
	struct sockaddr_storage listen; /* default 127.0.0.1:1153 */
	socklen_t listen_len;
	struct host_port_list domestic; /* port default 53 */
	struct host_port_list foreign;
	bool split; /* default true */
	unsigned cache_size; /* default 10000, 0 disables */
	unsigned min_ttl; /* default 0 */
	unsigned max_ttl; /* default 86400 */
	struct uid_list disable_qtypes; /* numeric qtypes (names like AAAA are mapped) */
	struct dns_host *hosts;
	size_t n_hosts;
	bool prefetch; /* default true */
	char query_log[CONFIG_PATH_MAX]; /* empty = none */
	unsigned timeout; /* seconds until a query is answered SERVFAIL, 1..60, default 5 */
	struct config_fake_ip fake_ip;
};

/* gateway: the machine forwards a LAN's traffic through the capture too. */
struct config_gateway {
	bool enable; /* default false */
	struct cidr_list lan; /* the LAN's source ranges (IPv4/IPv6); non-empty with enable */
};

struct config_stats {
	bool enable; /* listen was given */
	struct sockaddr_storage listen;
	socklen_t listen_len;
	/* clients allowed besides loopback; needed (non-empty) when listen is not loopback */
	struct cidr_list allow;
};

struct config {
	char path[CONFIG_PATH_MAX];
	enum run_mode mode; /* default tun */
	enum log_level log_level; /* default info */
	uint32_t fwmark; /* SO_MARK on our own upstream sockets; default 0x534e, never 0 */
	char user[64]; /* drop root to this user once set up; "" = stay as started */
	uint32_t user_uid, user_gid; /* user, resolved at load time (when user is set) */
	struct config_proxy proxy; /* the upstream of proxy:, or the first of proxies: */
	struct config_proxy proxies[CONFIG_PROXIES_MAX]; /* every upstream, in order */
	size_t n_proxies; /* >= 1 after a load: proxy: alone is one */
	struct config_upstream upstream;
	struct config_tun tun;
	struct config_redirect redirect;
	struct config_capture capture;
	struct config_rules rules;
	struct config_dns dns;
	struct config_gateway gateway;
	struct config_stats stats;
};

/* Reads and validates the YAML file at path into *cfg (which it initialises).
 * On error returns -1, leaves *cfg freed, and writes one line
 * "FILE:LINE:COL: message" (no newline) into err. */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);

/* Same, from a memory buffer; `name` stands for FILE in messages (for tests/fuzzing). */
int config_load_buffer(const char *name, const char *data, size_t len, struct config *cfg,
		       char *err, size_t errlen);

void config_free(struct config *cfg);

/* The defaults of one proxy mapping (proxy:, or an entry of proxies:). */
void config_proxy_defaults(struct config_proxy *p);

/* Parses "1.2.3.4", "1.2.3.0/24", "fd00::/8" (a bare address gets the full prefix).
 * Rejects host bits set beyond the prefix. 0 or -1. */
int cidr_parse(const char *s, struct cidr *out);

#endif
