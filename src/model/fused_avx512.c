/* fused_avx512.c - fused_impl.h compiled for AVX512 (called only when
 * kern_simd_level() says the CPU has it). System headers first: the target
 * pragma then applies to polysweep's code only. */
#include <math.h>
#include <string.h>
#include <immintrin.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl")
#define FUSED_ISA 2
#define FNAME(f) f##_avx512
#include "fused_impl.h"
#endif
