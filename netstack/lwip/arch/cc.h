/* arch/cc.h -- the compiler and platform part of lwIP's port for the build from source
 * (-DSNET_LWIP=source): Linux, glibc, either word size. The options are in lwipopts.h. */
#ifndef SNET_LWIP_ARCH_CC_H
#define SNET_LWIP_ARCH_CC_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

/* The C library's htons() and friends (netinet/in.h), not lwIP's macros of the same
 * names, which would clash with it in files that include both. */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS
#define LWIP_ERRNO_STDINCLUDE 1
#define LWIP_TIMEVAL_PRIVATE 0

/* ip6_frag.c overlays its bookkeeping on the fragment's IPv6 header unless told to copy
 * the header: with 8-byte pointers the overlay does not fit. */
#if defined __LP64__
#define IPV6_FRAG_COPYHEADER 1
#endif

#define LWIP_RAND() ((u32_t)random())

/* An lwIP assertion is a bug: say where, and stop (as Debian's build does). */
#define LWIP_PLATFORM_ASSERT(x)                                                       \
	do {                                                                          \
		fprintf(stderr, "lwIP assertion \"%s\" failed at %s:%d\n", x, __FILE__, \
			__LINE__);                                                    \
		abort();                                                              \
	} while (0)
#define LWIP_PLATFORM_DIAG(x)    \
	do {                     \
		printf x;        \
	} while (0)

typedef unsigned int sys_prot_t;

#endif
