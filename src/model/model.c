/* model.c - sizes of the parameter vector and of the workspace
 * (include/polysweep/model.h); the loss and gradient are in arch_impl.h. */
#include "polysweep/model.h"

#include "fused.h"

size_t model_param_len(const TaskSpec *t)
{
    return (size_t)t->m * (size_t)t->n + (size_t)t->n; /* W (m, n) | b (n) */
}

/* The autoencoders need H (B, m), Z (B, n), dH (B, m) and a zero bias (n);
 * quadratic needs A (B, m), which fits in the same; the population loss
 * needs G (n, n) (see arch_impl.h). The size depends on B only through these
 * rows, so a workspace for B rows serves every call with at most B rows. */
size_t model_workspace_len(const TaskSpec *t, int B)
{
    size_t rows = B > 0 ? (size_t)B : 0;
    size_t len = rows * (2 * (size_t)t->m + (size_t)t->n) + (size_t)t->n;
    /* float32 may take the fused kernels for any batch up to B: their
     * buffers plus a zero bias (n) */
    if (fused_wanted(t, B > 0 ? B : 1)) {
        size_t fl = fused_workspace_len(t->n, t->m, B) + (size_t)t->n;
        len = fl > len ? fl : len;
    }
    if (t->population_loss && t->arch == ARCH_QUADRATIC) {
        size_t gram = (size_t)t->n * (size_t)t->n;
        len = gram > len ? gram : len;
    }
    return len;
}
