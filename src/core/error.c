/*
 * Per-thread error messages (lk_last_error). A fixed buffer per thread: no
 * allocation on the failure path, which may be an out-of-memory report.
 */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LK_ERROR_CAPACITY 1024

static _Thread_local char error_message[LK_ERROR_CAPACITY];

lk_status lk_fail(lk_status status, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, args);
    va_end(args);
    return status;
}

lk_status lk_fail_prefix(lk_status status, const char *prefix)
{
    size_t prefix_length = strlen(prefix);
    if (prefix_length + 2 >= sizeof error_message) prefix_length = sizeof error_message - 3;
    size_t kept = sizeof error_message - prefix_length - 3; /* message bytes that still fit */
    size_t message_length = strlen(error_message);
    if (message_length > kept) message_length = kept;
    memmove(error_message + prefix_length + 2, error_message, message_length);
    memcpy(error_message, prefix, prefix_length);
    memcpy(error_message + prefix_length, ": ", 2);
    error_message[prefix_length + 2 + message_length] = '\0';
    return status;
}

const char *lk_last_error(void)
{
    return error_message;
}

const char *lk_status_name(lk_status status)
{
    switch (status) {
    case LK_OK: return "LK_OK";
    case LK_EINVAL: return "LK_EINVAL";
    case LK_ESHAPE: return "LK_ESHAPE";
    case LK_EDTYPE: return "LK_EDTYPE";
    case LK_EVALUE: return "LK_EVALUE";
    case LK_EPARAM: return "LK_EPARAM";
    case LK_ENOMEM: return "LK_ENOMEM";
    case LK_ENOTFOUND: return "LK_ENOTFOUND";
    case LK_ESYSTEM: return "LK_ESYSTEM";
    }
    return "LK_UNKNOWN";
}

const char *lk_version(void)
{
#define LK_STR2(x) #x
#define LK_STR(x) LK_STR2(x)
    return LK_STR(LK_VERSION_MAJOR) "." LK_STR(LK_VERSION_MINOR) "." LK_STR(LK_VERSION_PATCH);
#undef LK_STR
#undef LK_STR2
}
