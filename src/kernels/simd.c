/* simd.c - the SIMD level of polysweep's own vectorised code
 * (include/polysweep/kernels.h, kern_simd_level). A file of its own, apart
 * from the BLAS door, so that code needing only this (AdamW, the sampler)
 * links without OpenBLAS.
 */
#include <stdlib.h>
#include <string.h>

#include "polysweep/kernels.h"

/* The best level the CPU and the OS support. __builtin_cpu_supports (libgcc)
 * also checks with XGETBV that the OS saves the AVX / AVX-512 registers. */
static int simd_cpu_level(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return KERN_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return KERN_SIMD_AVX2;
#endif
    return KERN_SIMD_GENERIC;
}

static const char *const simd_names[] = {"generic", "avx2", "avx512"};

const char *kern_simd_name(int level)
{
    return level >= KERN_SIMD_GENERIC && level <= KERN_SIMD_AVX512 ? simd_names[level] : "?";
}

/* -1 until the first call. Processes are single-threaded where this is
 * called (OpenBLAS's threads never do), and every thread would compute the
 * same value anyway. */
static int simd_level = -1;

int kern_simd_set_level(int level)
{
    const int cpu = simd_cpu_level();
    if (level < KERN_SIMD_GENERIC)
        level = KERN_SIMD_GENERIC;
    simd_level = level < cpu ? level : cpu;
    return simd_level;
}

int kern_simd_level(void)
{
    if (simd_level < 0) {
        int want = KERN_SIMD_AVX512;
        const char *env = getenv(KERN_SIMD_ENV);
        for (int l = KERN_SIMD_GENERIC; env && l <= KERN_SIMD_AVX512; l++)
            if (strcmp(env, simd_names[l]) == 0)
                want = l;
        kern_simd_set_level(want);
    }
    return simd_level;
}
