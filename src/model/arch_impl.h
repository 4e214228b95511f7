/* arch_impl.h - loss and gradient of the architectures (science.md sections 2
 * and 5), written once for float and double. Included once by model_f32.c
 * and by model_f64.c, each of which first defines:
 *   REAL      the floating type of parameters, data and workspace
 *   GEMM      kern_gemm_f32 or kern_gemm_f64
 *   ERF, EXP  erff/expf or erf/exp
 *   NAME(f)   f##_f32 or f##_f64: the public entry points
 *   MODEL_FUSED  1 (float32): small autoencoders run the fused kernels and the
 *             BLAS path the vectorised output pass (fused.h); 0 (float64):
 *             everything as written here, the reference the tests compare
 *             the float32 kernels with
 *
 * Layout (row-major, as in model.h):
 *   W  (m, n)  params[0, m n): row j is hidden dimension j, column i is W_i
 *   b  (n)     params[m n, m n + n)
 *   X  (B, n)  one example per row
 *   xi (m)     the step's hidden noise, or NULL
 *
 * Tied-output architectures (linear, relu_output, gelu_output, power):
 *   H  = X W^T + 1 xi^T                (B, m)  h = W x + xi for each example
 *   Z  = H W + b                       (B, n)  pre-activation G x + b (+ W^T xi)
 *   X' = act(Z)                        (B, n)
 *   L  = 1/(B n) sum_b sum_i I_i (X'_bi - X_bi)^2   (TMS notebook's mean)
 * Backward (dY = dL/dY):
 *   dZ = 2/(B n) I_i (X' - X) act'(Z)  (B, n)
 *   db = sum_b dZ                      (n)     zero when the model has no bias
 *   dH = dZ W^T                        (B, m)
 *   dW = H^T dZ + dH^T X               (m, n)  W is both decoder and encoder
 * Five GEMMs in all.
 *
 * relu_hidden (TMS section 8, privileged basis): H = ReLU(X W^T + 1 xi^T),
 * X' = ReLU(H W + b); backward as above with dH masked by ReLU'(A) = [H > 0]
 * (H > 0 exactly where A > 0) before dW += dH^T X.
 *
 * quadratic (CAP): A = X W^T + 1 xi^T (B, m), y'_b = sum_j A_bj^2 + e with
 * e = b[0], target y_b = sum_i I_i X_bi^2, L = 1/B sum_b (y'_b - y_b)^2.
 * Backward: dy_b = 2/B (y'_b - y_b), de = sum_b dy_b, dA = 2 dy_b A_bj,
 * dW = dA^T X (two GEMMs).
 *
 * Population loss of quadratic (science.md section 5): G = W^T W (n, n),
 * L = (K-1) sum_i (G_ii - I_i)^2 + 2 sum_{i != j} G_ij^2 [+ S^2 without a
 * bias, S = sum_i (I_i - G_ii)]. With L = sum_ij f_ij(G_ij) and
 * dG_ij = dW_i . W_j + W_i . dW_j, dL/dW = 2 W F with F_ij = f'_ij:
 * F_ij = 4 G_ij (i != j), F_ii = 2 (K-1) (G_ii - I_i) [- 2 S without a bias].
 *
 * L1 (INC): + l1 sum |W|, gradient l1 sign(W) with sign(0) = 0.
 */

/* ---- element-wise activations (enum Act is in fused.h) ---- */

/* z^q for a small positive integer q, by repeated multiplication (exact
 * enough, and as odd as z: (-z)^q = -(z^q)). */
static inline REAL ipow(REAL z, int q)
{
    REAL r = z;
    for (int k = 1; k < q; k++)
        r *= z;
    return q > 0 ? r : (REAL)1;
}

/* GELU, the exact (erf) form of torch.nn.functional.gelu's default
 * (Hendrycks and Gimpel 2016): gelu(z) = z Phi(z) = z (1 + erf(z / sqrt2)) / 2;
 * gelu'(z) = Phi(z) + z phi(z), phi(z) = exp(-z^2/2) / sqrt(2 pi). */
static inline REAL gelu_cdf(REAL z)
{
    return (REAL)0.5 * ((REAL)1 + ERF(z * (REAL)0.70710678118654752440));
}

static inline REAL act_fwd(int act, REAL z, int q)
{
    switch (act) {
    /* Written so that NaN propagates (as torch.relu does): a diverged model
     * must not look finite. */
    case ACT_RELU: return !(z <= (REAL)0) ? z : (REAL)0;
    case ACT_GELU: return z * gelu_cdf(z);
    case ACT_POW: return ipow(z, q);
    default: return z;
    }
}

/* Derivative at z; ReLU'(0) = 0 as in PyTorch. */
static inline REAL act_grad(int act, REAL z, int q)
{
    switch (act) {
    case ACT_RELU: return z > (REAL)0 ? (REAL)1 : (REAL)0;
    case ACT_GELU:
        return gelu_cdf(z) + z * (REAL)0.39894228040143267794 * EXP((REAL)-0.5 * z * z);
    case ACT_POW: return (REAL)q * ipow(z, q - 1);
    default: return (REAL)1;
    }
}

/* Z (B, n) holds H W on entry. Adds b (n), applies the activation and returns
 * sum_bi I_i (act(z_bi) - x_bi)^2 accumulated in double; with want_grad,
 * overwrites Z with dZ = scale I_i (act(z) - x) act'(z).
 * Always inlined with constant `act` and `want_grad`: no per-element dispatch. */
static inline __attribute__((always_inline)) double
output_pass(int act, REAL *Z, const REAL *X, const REAL *I, const REAL *b,
            int B, int n, REAL scale, int want_grad, int q)
{
    double loss = 0.0;
    for (int r = 0; r < B; r++) {
        REAL *z = Z + (size_t)r * n;           /* (n) */
        const REAL *x = X + (size_t)r * n;     /* (n) */
        double row = 0.0;
        for (int i = 0; i < n; i++) {
            REAL pre = z[i] + b[i];
            REAL d = act_fwd(act, pre, q) - x[i];
            row += (double)I[i] * ((double)d * (double)d);
            if (want_grad)
                z[i] = scale * I[i] * d * act_grad(act, pre, q);
        }
        loss += row;
    }
    return loss;
}

#if !MODEL_FUSED
/* One specialised output loop per (activation, gradient wanted). */
static double output_dispatch(int act, REAL *Z, const REAL *X, const REAL *I,
                              const REAL *b, int B, int n, REAL scale, int g, int q)
{
    switch (act) {
    case ACT_RELU:
        return g ? output_pass(ACT_RELU, Z, X, I, b, B, n, scale, 1, q)
                 : output_pass(ACT_RELU, Z, X, I, b, B, n, scale, 0, q);
    case ACT_GELU:
        return g ? output_pass(ACT_GELU, Z, X, I, b, B, n, scale, 1, q)
                 : output_pass(ACT_GELU, Z, X, I, b, B, n, scale, 0, q);
    case ACT_POW:
        return g ? output_pass(ACT_POW, Z, X, I, b, B, n, scale, 1, q)
                 : output_pass(ACT_POW, Z, X, I, b, B, n, scale, 0, q);
    default:
        return g ? output_pass(ACT_IDENTITY, Z, X, I, b, B, n, scale, 1, q)
                 : output_pass(ACT_IDENTITY, Z, X, I, b, B, n, scale, 0, q);
    }
}

#endif

/* H (B, m) += 1 xi^T: the step's noise, the same for every example. */
static void add_noise(REAL *H, const REAL *xi, int B, int m)
{
    if (!xi)
        return;
    for (int r = 0; r < B; r++) {
        REAL *h = H + (size_t)r * m;
        for (int j = 0; j < m; j++)
            h[j] += xi[j];
    }
}

/* x' = act(W^T h + b), h = W x + xi (hidden_relu: h = ReLU(W x + xi)). */
static double autoencoder(const TaskSpec *t, int act, int hidden_relu, const REAL *params,
                          const REAL *I, const REAL *X, int B, const REAL *xi, REAL *grad,
                          REAL *ws)
{
    const int n = t->n, m = t->m;
    const REAL *W = params + model_w_offset();          /* (m, n) */
#if MODEL_FUSED
    /* float32, small n m: the fused kernels (fused_impl.h), no BLAS calls */
    if (fused_wanted(t, B)) {
        float *zb = ws + fused_workspace_len(n, m, B);  /* (n) zero bias */
        for (int i = 0; i < n; i++)
            zb[i] = 0.0f;
        const FusedArgs fa = {
            .n = n, .m = m, .B = B, .act = act, .hidden_relu = hidden_relu, .q = t->q,
            .W = W, .b = model_bias_used(t) ? params + model_b_offset(t) : zb,
            .bias = model_bias_used(t), .I = I, .X = X, .xi = xi,
            .scale = (float)(2.0 / ((double)B * n)), .grad = grad, .ws = ws};
        return fused_autoencoder(&fa) / ((double)B * n);
    }
#endif
    REAL *H = ws;                                       /* (B, m) */
    REAL *Z = H + (size_t)B * m;                        /* (B, n), then dZ */
    REAL *dH = Z + (size_t)B * n;                       /* (B, m) */
    REAL *zero = dH + (size_t)B * m;                    /* (n) */
    const REAL *b = zero;                               /* (n) */
    const int bias = model_bias_used(t);
    if (bias) {
        b = params + model_b_offset(t);
    } else {
        /* No bias: b is 0 whatever params holds. */
        for (int i = 0; i < n; i++)
            zero[i] = (REAL)0;
    }

    GEMM(0, 1, B, m, n, (REAL)1, X, n, W, n, (REAL)0, H, m);   /* H = X W^T */
    add_noise(H, xi, B, m);
    if (hidden_relu)
        for (size_t k = 0; k < (size_t)B * m; k++)
            H[k] = act_fwd(ACT_RELU, H[k], 0);
    GEMM(0, 0, B, n, m, (REAL)1, H, m, W, n, (REAL)0, Z, n);   /* Z = H W */

    const REAL scale = (REAL)(2.0 / ((double)B * n));
    REAL *dW = grad ? grad + model_w_offset() : NULL;  /* (m, n) */
    REAL *db = grad ? grad + model_b_offset(t) : NULL;  /* (n) */
    for (int i = 0; grad && i < n; i++)
        db[i] = (REAL)0;
#if MODEL_FUSED
    /* the vectorised pass, which also sums db */
    double sum = fused_output_rows(act, t->q, Z, X, I, b, B, n, scale, grad != NULL,
                                   bias ? db : NULL);
#else
    double sum = output_dispatch(act, Z, X, I, b, B, n, scale, grad != NULL, t->q);
#endif
    if (!grad)
        return sum / ((double)B * n);

    const REAL *dZ = Z;                                 /* (B, n) */
    if (bias && !MODEL_FUSED) {
        for (int r = 0; r < B; r++) {
            const REAL *dz = dZ + (size_t)r * n;        /* (n) */
            for (int i = 0; i < n; i++)
                db[i] += dz[i];
        }
    }
    GEMM(0, 1, B, m, n, (REAL)1, dZ, n, W, n, (REAL)0, dH, m); /* dH = dZ W^T */
    GEMM(1, 0, m, n, B, (REAL)1, H, m, dZ, n, (REAL)0, dW, n); /* dW = H^T dZ */
    if (hidden_relu)
        for (size_t k = 0; k < (size_t)B * m; k++)
            dH[k] = H[k] > (REAL)0 ? dH[k] : (REAL)0;      /* through ReLU(A) */
    GEMM(1, 0, m, n, B, (REAL)1, dH, m, X, n, (REAL)1, dW, n); /* dW += dH^T X */
    return sum / ((double)B * n);
}

/* y' = sum_j (W x + xi)_j^2 + e against y = sum_i I_i x_i^2. */
static double quadratic(const TaskSpec *t, const REAL *params, const REAL *I,
                        const REAL *X, int B, const REAL *xi, REAL *grad, REAL *ws)
{
    const int n = t->n, m = t->m;
    const REAL *W = params + model_w_offset();          /* (m, n) */
    REAL *A = ws;                                       /* (B, m), then dA */
    const int bias = model_bias_used(t);
    const double e = bias ? (double)params[model_b_offset(t)] : 0.0;

    GEMM(0, 1, B, m, n, (REAL)1, X, n, W, n, (REAL)0, A, m);   /* A = X W^T */
    add_noise(A, xi, B, m);
    double sum = 0.0, de = 0.0;
    for (int r = 0; r < B; r++) {
        REAL *a = A + (size_t)r * m;                    /* (m) */
        const REAL *x = X + (size_t)r * n;              /* (n) */
        double yp = e, y = 0.0;
        for (int j = 0; j < m; j++)
            yp += (double)a[j] * (double)a[j];
        for (int i = 0; i < n; i++)
            y += (double)I[i] * ((double)x[i] * (double)x[i]);
        const double res = yp - y;
        sum += res * res;
        if (grad) {
            const double dy = 2.0 * res / B;            /* dL/dy'_b */
            de += dy;
            const REAL two_dy = (REAL)(2.0 * dy);
            for (int j = 0; j < m; j++)
                a[j] = two_dy * a[j];                   /* dA_bj = 2 dy_b A_bj */
        }
    }
    if (grad) {
        REAL *dW = grad + model_w_offset();
        REAL *db = grad + model_b_offset(t);
        for (int i = 0; i < n; i++)
            db[i] = (REAL)0;
        if (bias)
            db[0] = (REAL)de;
        GEMM(1, 0, m, n, B, (REAL)1, A, m, X, n, (REAL)0, dW, n); /* dW = dA^T X */
    }
    return sum / B;
}

/* + l1 sum |W|; dW += l1 sign(W). */
static double add_l1(const TaskSpec *t, const REAL *params, REAL *grad, double loss)
{
    if (!(t->l1 > 0.0))
        return loss;
    const size_t mn = (size_t)t->m * (size_t)t->n;
    const REAL *W = params + model_w_offset();
    const REAL lam = (REAL)t->l1;
    double s = 0.0;
    for (size_t k = 0; k < mn; k++)
        s += fabs((double)W[k]);
    if (grad) {
        REAL *dW = grad + model_w_offset();
        for (size_t k = 0; k < mn; k++)
            dW[k] += lam * (REAL)((W[k] > (REAL)0) - (W[k] < (REAL)0));
    }
    return loss + t->l1 * s;
}

double NAME(model_loss_grad_noise)(const TaskSpec *t, const REAL *params, const REAL *I,
                                   const REAL *x, int B, const REAL *noise, REAL *grad,
                                   REAL *ws)
{
    if (B <= 0) {
        if (grad)
            for (size_t k = 0; k < model_param_len(t); k++)
                grad[k] = (REAL)0;
        return 0.0;
    }
    double loss;
    /* The one switch on the architecture. */
    switch (t->arch) {
    case ARCH_LINEAR:
        loss = autoencoder(t, ACT_IDENTITY, 0, params, I, x, B, noise, grad, ws);
        break;
    case ARCH_RELU_OUTPUT:
        loss = autoencoder(t, ACT_RELU, 0, params, I, x, B, noise, grad, ws);
        break;
    case ARCH_GELU_OUTPUT:
        loss = autoencoder(t, ACT_GELU, 0, params, I, x, B, noise, grad, ws);
        break;
    case ARCH_RELU_HIDDEN:
        loss = autoencoder(t, ACT_RELU, 1, params, I, x, B, noise, grad, ws);
        break;
    case ARCH_POWER:
        loss = autoencoder(t, ACT_POW, 0, params, I, x, B, noise, grad, ws);
        break;
    case ARCH_QUADRATIC:
        loss = quadratic(t, params, I, x, B, noise, grad, ws);
        break;
    default:
        return NAN;
    }
    return add_l1(t, params, grad, loss);
}

double NAME(model_loss_grad)(const TaskSpec *t, const REAL *params, const REAL *I,
                             const REAL *x, int B, REAL *grad, REAL *ws)
{
    return NAME(model_loss_grad_noise)(t, params, I, x, B, NULL, grad, ws);
}

double NAME(model_population_bias)(const TaskSpec *t, const REAL *params, const REAL *I)
{
    if (!model_bias_used(t))
        return 0.0;
    const int n = t->n, m = t->m;
    const REAL *W = params + model_w_offset();
    double e = 0.0;
    for (int i = 0; i < n; i++) {
        double g = 0.0;
        for (int j = 0; j < m; j++)
            g += (double)W[(size_t)j * n + i] * (double)W[(size_t)j * n + i];
        e += (double)I[i] - g;
    }
    return e;
}

double NAME(model_population_loss_grad)(const TaskSpec *t, const REAL *params,
                                        const REAL *I, REAL *grad, REAL *ws)
{
    const int n = t->n, m = t->m;
    const REAL *W = params + model_w_offset();          /* (m, n) */
    REAL *G = ws;                                       /* (n, n), then F */
    const double K = t->kurtosis;
    const int bias = model_bias_used(t);

    GEMM(1, 0, n, n, m, (REAL)1, W, n, W, n, (REAL)0, G, n);   /* G = W^T W */
    double diag = 0.0, off = 0.0, S = 0.0;
    for (int i = 0; i < n; i++) {
        const REAL *g = G + (size_t)i * n;
        for (int j = 0; j < n; j++)
            if (j != i)
                off += (double)g[j] * (double)g[j];
        const double d = (double)g[i] - (double)I[i];
        diag += d * d;
        S -= d;
    }
    double loss = (K - 1.0) * diag + 2.0 * off + (bias ? 0.0 : S * S);
    if (grad) {
        for (int i = 0; i < n; i++) {
            REAL *f = G + (size_t)i * n;
            const double d = (double)f[i] - (double)I[i];
            for (int j = 0; j < n; j++)
                f[j] = (REAL)4 * f[j];
            f[i] = (REAL)(2.0 * (K - 1.0) * d - (bias ? 0.0 : 2.0 * S));
        }
        REAL *dW = grad + model_w_offset();
        REAL *db = grad + model_b_offset(t);
        GEMM(0, 0, m, n, n, (REAL)2, W, n, G, n, (REAL)0, dW, n); /* dW = 2 W F */
        for (int i = 0; i < n; i++)
            db[i] = (REAL)0;
    }
    return add_l1(t, params, grad, loss);
}
