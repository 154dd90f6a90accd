/*
 * Per-thread error messages. A failing function formats its message with
 * lk_fail() and returns the status it gets back:
 *
 *     return lk_fail(LK_ESHAPE, "input '%s': expected %d dims, got %d", ...);
 */
#ifndef LK_CORE_ERROR_H
#define LK_CORE_ERROR_H

#include "losskit.h"

#if defined(__GNUC__)
#define LK_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define LK_PRINTF(fmt_index, first_arg)
#endif

/* Records the message for this thread and returns status. */
lk_status lk_fail(lk_status status, const char *fmt, ...) LK_PRINTF(2, 3);

/* Prefixes the current message with "context: " (for layered reporting). */
lk_status lk_fail_prefix(lk_status status, const char *prefix);

#endif
