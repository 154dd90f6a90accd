/*
 * LK_HOT marks a kernel that is worth compiling twice: for the x86-64 baseline
 * and for x86-64-v3 (AVX2, FMA, BMI2). The loader picks the clone that the CPU
 * runs (GNU ifunc), so one binary is portable and fast. Inline helpers called
 * from a hot kernel are compiled into each clone.
 *
 * The library is built without floating-point contraction, so the clones
 * compute the same bits: the AVX2 clone is faster, not different.
 * Define LK_NO_CLONES (CMake option LOSSKIT_CLONES=OFF) to build one version.
 */
#ifndef LK_CORE_HOT_H
#define LK_CORE_HOT_H

#if !defined(LK_NO_CLONES) && defined(__x86_64__) && defined(__linux__) && \
    (defined(__clang__) ? (__clang_major__ >= 14) : (defined(__GNUC__) && __GNUC__ >= 8))
#define LK_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define LK_HOT
#endif

#endif
