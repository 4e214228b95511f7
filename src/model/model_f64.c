/* model_f64.c - model_loss_grad_f64: the architectures in float64, for
 * gradient checks and references (the code is src/model/arch_impl.h). */
#include <math.h>
#include <stddef.h>

#include "polysweep/kernels.h"
#include "polysweep/model.h"

#define REAL double
#define GEMM kern_gemm_f64
#define MODEL_FN model_loss_grad_f64
#include "arch_impl.h"
