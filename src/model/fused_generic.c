/* fused_generic.c - fused_impl.h for any CPU (baseline instructions; SSE2 on
 * x86-64). */
#include <math.h>
#include <string.h>

#define FUSED_ISA 0
#define FNAME(f) f##_generic
#include "fused_impl.h"
