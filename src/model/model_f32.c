/* model_f32.c - the architectures in float32, for training (the code is
 * src/model/arch_impl.h): model_loss_grad_f32, model_loss_grad_noise_f32,
 * model_population_loss_grad_f32, model_population_bias_f32. */
#include <math.h>
#include <stddef.h>

#include "polysweep/kernels.h"
#include "polysweep/model.h"

#include "fused.h"

#define REAL float
#define GEMM kern_gemm_f32
#define ERF erff
#define EXP expf
#define MODEL_FUSED 1
#define NAME(f) f##_f32
#include "arch_impl.h"
