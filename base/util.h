/* util.h -- tiny macros shared by every module. */
#ifndef SNET_UTIL_H
#define SNET_UTIL_H

#include <stddef.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
