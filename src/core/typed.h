/*
 * Compiles the typed section of a source file twice: once for float, once
 * for double. This is the one template mechanism of losskit; kernels that must
 * exist for both element types are written once, like this:
 *
 *     #ifndef LK_REAL            // untyped prologue: includes, enums, configs
 *     #include "core/loss.h"
 *     ...
 *     #define LK_TYPED_FILE "pixel/focal.c"
 *     #include "core/typed.h"    // compiles the typed section below, twice
 *     #else                      // typed section
 *     static void LK_T(focal_rule)(...) { lk_real p = ...; }
 *     #endif
 *
 *     #ifndef LK_REAL            // untyped rest: compute, registry entry
 *     ...focal_rule_f32 and focal_rule_f64 are defined here...
 *     #endif
 *
 * Inside the typed section:
 *   lk_real        the element type, float or double
 *   LK_T(name)     name_f32 or name_f64
 *   LK_REAL_DTYPE  LK_F32 or LK_F64
 * and the vecmath functions (lk_exp, lk_log, ...) pick the type themselves.
 */
#ifndef LK_TYPED_FILE
#error "define LK_TYPED_FILE (the path of the file to instantiate) before including core/typed.h"
#endif

#define LK_REAL 1

#define lk_real float
#define LK_T(name) name##_f32
#define LK_REAL_DTYPE LK_F32
#include LK_TYPED_FILE
#undef lk_real
#undef LK_T
#undef LK_REAL_DTYPE

#define lk_real double
#define LK_T(name) name##_f64
#define LK_REAL_DTYPE LK_F64
#include LK_TYPED_FILE
#undef lk_real
#undef LK_T
#undef LK_REAL_DTYPE

#undef LK_REAL
#undef LK_TYPED_FILE
