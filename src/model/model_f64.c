/* model_f64.c - the architectures in float64, for gradient checks and
 * references (the code is src/model/arch_impl.h): model_loss_grad_f64,
 * model_loss_grad_noise_f64, model_population_loss_grad_f64,
 * model_population_bias_f64. */
#include <math.h>
#include <stddef.h>

#include "polysweep/kernels.h"
#include "polysweep/model.h"

#include "fused.h"

#define REAL double
#define GEMM kern_gemm_f64
#define ERF erf
#define EXP exp
#define MODEL_FUSED 0
#define NAME(f) f##_f64
#include "arch_impl.h"
