/* model_f32.c - model_loss_grad_f32: the architectures in float32, for
 * training (the code is src/model/arch_impl.h). */
#include <math.h>
#include <stddef.h>

#include "polysweep/kernels.h"
#include "polysweep/model.h"

#define REAL float
#define GEMM kern_gemm_f32
#define MODEL_FN model_loss_grad_f32
#include "arch_impl.h"
