/* blas_core.c - is OpenBLAS running the best kernel this CPU supports?
 * (kernels.h, kern_blas_core_check; platform.md "OpenBLAS misdetects this CPU").
 *
 * A DYNAMIC_ARCH OpenBLAS picks its kernel set ("core") once, when the library
 * is loaded, from the CPU's family and model numbers. Distribution builds older
 * than the CPU get that wrong: Debian's 0.3.21 runs the SSE3 "Prescott" kernels
 * on AVX-512 Xeons (5x slower) and the AVX2 "Haswell" kernels on AVX-512 EPYCs
 * (about 2x slower). The library honours OPENBLAS_CORETYPE, but only at load
 * time, so the fix is to re-execute the program with it set.
 *
 * This file only decides; it reads the environment and the CPU and prints
 * nothing. The caller (src/cli) performs the re-execution. The decision
 * compares instruction-set levels, not names: the CPU's level comes from cpuid
 * (and XGETBV, because the operating system must also save the wider registers),
 * the core's level from a table of OpenBLAS's core names.
 */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KERN_HAVE_CPUID 1
#endif

#include "polysweep/kernels.h"

/* Instruction-set levels, in increasing order of what a kernel may use. */
enum { ISA_UNKNOWN, ISA_SSE, ISA_AVX, ISA_AVX2, ISA_AVX512 };

static const char *const isa_name[] = {
    [ISA_UNKNOWN] = "unknown vector extensions",
    [ISA_SSE] = "SSE3 but not AVX",
    [ISA_AVX] = "AVX but not AVX2/FMA",
    [ISA_AVX2] = "AVX2 and FMA but not AVX-512",
    [ISA_AVX512] = "AVX-512 F/DQ/BW/VL",
};

/* The OPENBLAS_CORETYPE value whose kernels use each level (x86-64 names of
 * OpenBLAS's driver/others/dynamic.c). */
static const char *const isa_coretype[] = {
    [ISA_UNKNOWN] = "", [ISA_SSE] = "", [ISA_AVX] = "SANDYBRIDGE",
    [ISA_AVX2] = "HASWELL", [ISA_AVX512] = "SKYLAKEX",
};

/* What each x86-64 core of OpenBLAS 0.3.x (openblas_get_corename) needs. */
static const struct { const char *core; int level; } core_levels[] = {
    {"SkylakeX", ISA_AVX512}, {"Cooperlake", ISA_AVX512}, {"SapphireRapids", ISA_AVX512},
    {"Haswell", ISA_AVX2},    {"Zen", ISA_AVX2},          {"Excavator", ISA_AVX2},
    {"Sandybridge", ISA_AVX}, {"Bulldozer", ISA_AVX},     {"Piledriver", ISA_AVX},
    {"Steamroller", ISA_AVX}, {"Prescott", ISA_SSE},      {"Core2", ISA_SSE},
    {"Penryn", ISA_SSE},      {"Dunnington", ISA_SSE},    {"Nehalem", ISA_SSE},
    {"Atom", ISA_SSE},        {"Opteron", ISA_SSE},       {"Opteron(SSE3)", ISA_SSE},
    {"Barcelona", ISA_SSE},   {"Bobcat", ISA_SSE},        {"Nano", ISA_SSE},
    {"Athlon", ISA_SSE},      {"Katmai", ISA_SSE},        {"Coppermine", ISA_SSE},
    {"Northwood", ISA_SSE},   {"Banias", ISA_SSE},
};

static int core_level(const char *core)
{
    for (size_t k = 0; k < sizeof core_levels / sizeof core_levels[0]; k++)
        if (!strcasecmp(core, core_levels[k].core))
            return core_levels[k].level;
    return ISA_UNKNOWN;
}

#ifdef KERN_HAVE_CPUID
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* The best level the CPU and the operating system support together.
 * Bits: Intel SDM vol. 2A, CPUID leaf 1 ECX (SSE3 0, FMA 12, OSXSAVE 27,
 * AVX 28) and leaf 7 EBX (AVX2 5, AVX512F 16, DQ 17, BW 30, VL 31); XCR0 bits
 * 1-2 (SSE and AVX state) and 5-7 (opmask and ZMM state), vol. 1 sec. 13.3. */
static int cpu_level(void)
{
#ifdef KERN_HAVE_CPUID
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return ISA_UNKNOWN;
    int sse3 = c & 1, fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
    unsigned b7 = 0;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        b7 = b;
    }
    int avx2 = (b7 >> 5) & 1;
    int avx512 = ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 30) & 1) && ((b7 >> 31) & 1);
    if (avx && ymm && avx2 && fma && avx512 && zmm)
        return ISA_AVX512;
    if (avx && ymm && avx2 && fma)
        return ISA_AVX2;
    if (avx && ymm)
        return ISA_AVX;
    return sse3 ? ISA_SSE : ISA_UNKNOWN;
#else
    return ISA_UNKNOWN;
#endif
}

/* POLYSWEEP_BLAS_CORE: "auto" (default), "best", "off". */
static int check_mode(void)
{
    const char *v = getenv(KERN_CORE_MODE_ENV);
    if (!v || !*v || !strcasecmp(v, "auto"))
        return 0;
    if (!strcasecmp(v, "best"))
        return 1;
    if (!strcasecmp(v, "off"))
        return -1;
    return 0;
}

/* Append to the note. */
static void note_add(KernCoreCheck *c, const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(c->note);
    if (n < sizeof c->note)
        snprintf(c->note + n, sizeof c->note - n, fmt, a, b);
}

void kern_blas_core_check(KernCoreCheck *c)
{
    memset(c, 0, sizeof *c);
    const char *core = kern_blas_core();
    const char *user = getenv("OPENBLAS_CORETYPE");
    const char *guard = getenv(KERN_CORE_GUARD_ENV);
    const char *config = openblas_get_config();
    int have = core_level(core), best = cpu_level(), mode = check_mode();
    int dynamic = config && strstr(config, "DYNAMIC_ARCH");
    if (user && !*user)
        user = NULL; /* an empty value is not a choice (OpenBLAS calls it "not found") */

    /* We re-executed ourselves: the guard holds "<core before>:<coretype set>".
     * This branch never asks for another re-execution: no loop. */
    const char *colon = guard ? strrchr(guard, ':') : NULL;
    if (user && colon && !strcasecmp(colon + 1, user)) {
        snprintf(c->note, sizeof c->note,
                 "OpenBLAS used %.*s but the CPU has %s: re-executed with OPENBLAS_CORETYPE=%s, "
                 "now %s", (int)(colon - guard), guard, isa_name[best], user, core);
        if (have < best) {
            note_add(c, " (the switch did not help%s%s)", "", "");
            c->warn = 1;
        }
        return;
    }
    if (mode < 0) {
        snprintf(c->note, sizeof c->note, "OpenBLAS uses %s (core check off: %s=off)", core,
                 KERN_CORE_MODE_ENV);
        return;
    }
    if (user && mode == 0) {
        snprintf(c->note, sizeof c->note,
                 "OPENBLAS_CORETYPE=%s set by the user: OpenBLAS uses %s", user, core);
        if (have != ISA_UNKNOWN && have < best && *isa_coretype[best]) {
            note_add(c, "; the CPU has %s (OPENBLAS_CORETYPE=%s would be faster)", isa_name[best],
                     isa_coretype[best]);
            c->warn = 1;
        }
        return;
    }
    /* No choice by the user, or POLYSWEEP_BLAS_CORE=best overrides an
     * inherited OPENBLAS_CORETYPE. */
    char what[96];
    if (user)
        snprintf(what, sizeof what, "OPENBLAS_CORETYPE=%s gives %s", user, core);
    else
        snprintf(what, sizeof what, "OpenBLAS chose %s", core);
    if (best == ISA_UNKNOWN || have == ISA_UNKNOWN) {
        snprintf(c->note, sizeof c->note, "%s (not checked: %s)", what,
                 best == ISA_UNKNOWN ? "CPU features unknown" : "unknown core name");
    } else if (have >= best || !*isa_coretype[best]) {
        snprintf(c->note, sizeof c->note, "%s, which matches the CPU (%s)", what, isa_name[best]);
    } else if (!dynamic) {
        snprintf(c->note, sizeof c->note,
                 "OpenBLAS is built for %s only but the CPU has %s: an OpenBLAS built with "
                 "DYNAMIC_ARCH=1 or for this CPU would be faster", core, isa_name[best]);
        c->warn = 1;
    } else if (guard) {
        /* A guard that does not match OPENBLAS_CORETYPE: something changed it
         * after our re-execution. Never loop. */
        snprintf(c->note, sizeof c->note,
                 "%s but the CPU has %s; not re-executing again (%s=%s is set); set "
                 "OPENBLAS_CORETYPE=%s", what, isa_name[best], KERN_CORE_GUARD_ENV, guard,
                 isa_coretype[best]);
        c->warn = 1;
    } else {
        c->reexec = 1;
        snprintf(c->coretype, sizeof c->coretype, "%s", isa_coretype[best]);
        snprintf(c->guard, sizeof c->guard, "%s:%s", core, isa_coretype[best]);
        snprintf(c->note, sizeof c->note, "%s but the CPU has %s: re-executing with "
                 "OPENBLAS_CORETYPE=%s", what, isa_name[best], isa_coretype[best]);
    }
}
