#ifndef HITCOUNTER_CHIREDIS_SHIM_H
#define HITCOUNTER_CHIREDIS_SHIM_H

// Only the calls present in both hiredis 0.14 (Debian 12) and 1.x (the container image):
// redisReader* / freeReplyObject to parse replies. Commands are encoded in Swift (RedisCommand).
#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#endif
