/* config_parse.h -- the text syntaxes inside config values (IP literals, CIDRs, IP:port,
 * host[:port], DNS names) and the files a config names (whole-file reads, CIDR lists).
 * Private to base/config*.c; cidr_parse itself is declared in config.h. */
#ifndef SNET_CONFIG_PARSE_H
#define SNET_CONFIG_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

/* Storage for n + 1 elements of elem bytes (capacity doubles; v may be NULL when n is 0).
 * NULL on overflow or out of memory, v untouched. */
void *config_vec_grow(void *v, size_t n, size_t elem);

/* Reads a whole file (at most max bytes) into a NUL-terminated heap buffer the caller frees.
 * regular_only refuses FIFOs and devices (never blocks). 0, or -1 with errno set. */
int config_read_file(const char *path, size_t max, bool regular_only, char **out, size_t *len);

/* strerror, with "not a regular file" for what config_read_file refuses as such. */
const char *config_read_strerror(int err);

/* A CIDR or a bare address (full prefix); host bits beyond the prefix only when
 * host_bits_ok. 0 or -1. */
int config_parse_cidr(const char *s, size_t len, bool host_bits_ok, struct cidr *out);
/* An IP literal (no brackets) into a full-length cidr. 0 or -1. */
int config_parse_ip(const char *s, size_t len, struct cidr *out);
/* An interface address "addr/prefix" of the given family; host bits are allowed, the
 * prefix is required and at least 1. 0 or -1. */
int config_parse_iface(const char *s, size_t len, int family, struct cidr *out);
/* "IPv4:port" or "[IPv6]:port", IP literals only, port 1..65535. 0 or -1. */
int config_parse_listen(const char *s, size_t len, struct sockaddr_storage *ss, socklen_t *sl);
/* "host", "host:port", "[v6]" or "[v6]:port" (a bare IPv6 literal is a host); the host is an
 * IP literal or a DNS name, stored without brackets; def_port when none is given. 0 or -1. */
int config_parse_host_port(const char *s, size_t len, uint16_t def_port, struct host_port *out);
/* A host to connect to: an IP literal ([v6] allowed) or a DNS name whose last label is not
 * numeric (so a mistyped address is not taken for a name). Stored without brackets. */
int config_parse_host(const char *s, size_t len, char *out, size_t outsize);
/* A DNS name (suffix) into lowercase without trailing dot; a leading dot is dropped when
 * leading_dot. Labels of letters, digits, '-' and '_', 1..63 bytes; at most 253 in all. */
int config_parse_domain(const char *s, size_t len, bool leading_dot, char *out, size_t outsize);

int config_cidr_push(struct cidr_list *l, const struct cidr *c);

/* Appends every CIDR of a list file (one a line; blank lines and # comments allowed, also
 * after a CIDR) to out. 0; -1 with errno set when the file cannot be read; -2 for a bad
 * line, with its number in *bad_line and its text quoted into bad. */
int config_load_cidr_file(const char *path, struct cidr_list *out, size_t *bad_line, char *bad,
			  size_t badsize);

#endif
