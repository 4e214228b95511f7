/* arch_impl.h - loss and gradient of the architectures (science.md section 2),
 * written once for float and double. Included once by model_f32.c and by
 * model_f64.c, each of which first defines:
 *   REAL      the floating type of parameters, data and workspace
 *   GEMM      kern_gemm_f32 or kern_gemm_f64
 *   MODEL_FN  the public entry point (model_loss_grad_f32 or _f64)
 *
 * Layout (row-major, as in model.h):
 *   W  (m, n)  params[0, m n): row j is hidden dimension j, column i is W_i
 *   b  (n)     params[m n, m n + n)
 *   X  (B, n)  one example per row; the target is X itself
 *
 * Tied-output architectures (linear, relu_output; later gelu_output, power):
 *   H  = X W^T                         (B, m)  h = W x for each example
 *   Z  = H W + b                       (B, n)  pre-activation G x + b, G = W^T W
 *   X' = act(Z)                        (B, n)
 *   L  = 1/(B n) sum_b sum_i I_i (X'_bi - X_bi)^2   (TMS notebook's mean)
 * Backward (dY = dL/dY):
 *   dZ = 2/(B n) I_i (X' - X) act'(Z)  (B, n)
 *   db = sum_b dZ                      (n)     zero when the task has no bias
 *   dH = dZ W^T                        (B, m)
 *   dW = H^T dZ + dH^T X               (m, n)  W is both decoder and encoder
 * Five GEMMs in all.
 */

/* ---- element-wise activations ----
 * Adding one (GELU, odd powers): a new Act, a case in act_fwd and act_grad,
 * and the arch -> act case in MODEL_FN. */
enum Act { ACT_IDENTITY, ACT_RELU };

static inline REAL act_fwd(int act, REAL z)
{
    switch (act) {
    /* Written so that NaN propagates (as torch.relu does): a diverged model
     * must not look finite. */
    case ACT_RELU: return !(z <= (REAL)0) ? z : (REAL)0;
    default: return z;
    }
}

/* Derivative at z; ReLU'(0) = 0 as in PyTorch. */
static inline REAL act_grad(int act, REAL z)
{
    switch (act) {
    case ACT_RELU: return z > (REAL)0 ? (REAL)1 : (REAL)0;
    default: return (REAL)1;
    }
}

/* Z (B, n) holds H W on entry. Adds b (n), applies the activation and returns
 * sum_bi I_i (act(z_bi) - x_bi)^2 accumulated in double; with want_grad,
 * overwrites Z with dZ = scale I_i (act(z) - x) act'(z).
 * Always inlined with constant `act` and `want_grad`: no per-element dispatch. */
static inline __attribute__((always_inline)) double
output_pass(int act, REAL *Z, const REAL *X, const REAL *I, const REAL *b,
            int B, int n, REAL scale, int want_grad)
{
    double loss = 0.0;
    for (int r = 0; r < B; r++) {
        REAL *z = Z + (size_t)r * n;           /* (n) */
        const REAL *x = X + (size_t)r * n;     /* (n) */
        double row = 0.0;
        for (int i = 0; i < n; i++) {
            REAL pre = z[i] + b[i];
            REAL d = act_fwd(act, pre) - x[i];
            row += (double)I[i] * ((double)d * (double)d);
            if (want_grad)
                z[i] = scale * I[i] * d * act_grad(act, pre);
        }
        loss += row;
    }
    return loss;
}

/* x' = act(G x + b) with G = W^T W. */
static double tied_output(const TaskSpec *t, int act, const REAL *params, const REAL *I,
                          const REAL *X, int B, REAL *grad, REAL *ws)
{
    const int n = t->n, m = t->m;
    const REAL *W = params + model_w_offset();          /* (m, n) */
    REAL *H = ws;                                       /* (B, m) */
    REAL *Z = H + (size_t)B * m;                        /* (B, n), then dZ */
    REAL *dH = Z + (size_t)B * n;                       /* (B, m) */
    REAL *zero = dH + (size_t)B * m;                    /* (n) */
    const REAL *b = zero;                               /* (n) */
    if (t->bias) {
        b = params + model_b_offset(t);
    } else {
        /* No bias: b is 0 whatever params holds. */
        for (int i = 0; i < n; i++)
            zero[i] = (REAL)0;
    }

    GEMM(0, 1, B, m, n, (REAL)1, X, n, W, n, (REAL)0, H, m);   /* H = X W^T */
    GEMM(0, 0, B, n, m, (REAL)1, H, m, W, n, (REAL)0, Z, n);   /* Z = H W */

    /* One specialised loop per (activation, gradient wanted). */
    const REAL scale = (REAL)(2.0 / ((double)B * n));
    double sum;
    switch (act) {
    case ACT_RELU:
        sum = grad ? output_pass(ACT_RELU, Z, X, I, b, B, n, scale, 1)
                   : output_pass(ACT_RELU, Z, X, I, b, B, n, scale, 0);
        break;
    default:
        sum = grad ? output_pass(ACT_IDENTITY, Z, X, I, b, B, n, scale, 1)
                   : output_pass(ACT_IDENTITY, Z, X, I, b, B, n, scale, 0);
        break;
    }
    if (!grad)
        return sum / ((double)B * n);

    const REAL *dZ = Z;                                 /* (B, n) */
    REAL *dW = grad + model_w_offset();                 /* (m, n) */
    REAL *db = grad + model_b_offset(t);                /* (n) */
    for (int i = 0; i < n; i++)
        db[i] = (REAL)0;
    if (t->bias) {
        for (int r = 0; r < B; r++) {
            const REAL *dz = dZ + (size_t)r * n;        /* (n) */
            for (int i = 0; i < n; i++)
                db[i] += dz[i];
        }
    }
    GEMM(0, 1, B, m, n, (REAL)1, dZ, n, W, n, (REAL)0, dH, m); /* dH = dZ W^T */
    GEMM(1, 0, m, n, B, (REAL)1, H, m, dZ, n, (REAL)0, dW, n); /* dW = H^T dZ */
    GEMM(1, 0, m, n, B, (REAL)1, dH, m, X, n, (REAL)1, dW, n); /* dW += dH^T X */
    return sum / ((double)B * n);
}

double MODEL_FN(const TaskSpec *t, const REAL *params, const REAL *I, const REAL *x,
                int B, REAL *grad, REAL *ws)
{
    if (B <= 0) {
        if (grad)
            for (size_t k = 0; k < model_param_len(t); k++)
                grad[k] = (REAL)0;
        return 0.0;
    }
    /* The one switch on the architecture. */
    switch (t->arch) {
    case ARCH_LINEAR: return tied_output(t, ACT_IDENTITY, params, I, x, B, grad, ws);
    case ARCH_RELU_OUTPUT: return tied_output(t, ACT_RELU, params, I, x, B, grad, ws);
    default: return NAN;
    }
}
