#ifndef HITCOUNTER_CHIREDIS_SHIM_H
#define HITCOUNTER_CHIREDIS_SHIM_H

// Only the calls present in both hiredis 0.14 (Debian 12) and 1.x (the container image):
// redisFormatCommandArgv / redisFreeCommand to encode, redisReader* / freeReplyObject to decode.
#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#endif
