/* fused_avx2.c - fused_impl.h compiled for AVX2 (called only when
 * kern_simd_level() says the CPU has it). System headers first: the target
 * pragma then applies to polysweep's code only. */
#include <math.h>
#include <string.h>
#include <immintrin.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC target("avx2")
#define FUSED_ISA 1
#define FNAME(f) f##_avx2
#include "fused_impl.h"
#endif
