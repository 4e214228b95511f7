/* sparse_impl.h - the sparse path's kernels (fused.h, SparseArgs), included
 * at the end of fused_impl.h so that they are compiled per SIMD level too.
 *
 * Sparse inputs make most products skippable: x_bi = 0 contributes nothing
 * to H = X W^T nor to X^T dH, and for relu_output (relu_hidden) dZ is 0
 * wherever the output ReLU is off and x = 0. These kernels run over the
 * nonzeros in compressed rows, with vectors along m: every output element
 * (h_bj, dh_bj, dWt_ij) is its own lane and sums its terms in the order of
 * the entries (rows in order, columns increasing), so the SIMD width never
 * changes the bits.
 */

/* acc[0..mp) += sum over entries e0 .. e1-1 (in order) of cval[e] M[crow[e]]
 * (rows of M, mp apart): acc stays in registers, up to 8 vectors at a time,
 * while the rows of M are only read. */
AI void gather_axpy(float *acc, int mp, const int32_t *crow, const float *cval, int64_t e0,
                    int64_t e1, const float *M)
{
    for (int j0 = 0; j0 < mp; j0 += 8 * VL) {
        const int nv = (mp - j0) / VL < 8 ? (mp - j0) / VL : 8;
        VF v[8];
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++)
            v[k] = k < nv ? vload(acc + j0 + k * VL) : vset1(0.0f);
        for (int64_t e = e0; e < e1; e++) {
            const float s = cval[e];
            const float *row = M + (size_t)crow[e] * mp + j0;
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++)
                if (k < nv)
                    v[k] = vaxpy(v[k], s, vload(row + k * VL));
        }
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++)
            if (k < nv)
                vstore(acc + j0 + k * VL, v[k]);
    }
}

/* Rows of H (B, mp) (lanes m .. mp-1 zero). */
void FNAME(sparse_hidden)(const SparseArgs *a)
{
    const int m = a->m, mp = a->mp;
    for (int r = 0; r < a->B; r++) {
        float *h = a->H + (size_t)r * mp;         /* (mp) */
        for (int j = 0; j < mp; j++)
            h[j] = a->xi && j < m ? a->xi[j] : 0.0f;
        gather_axpy(h, mp, a->col, a->val, a->rowptr[r], a->rowptr[r + 1], a->Wt);
        if (a->hidden_relu)
            for (int j = 0; j < m; j++)
                h[j] = !(h[j] <= 0.0f) ? h[j] : 0.0f;
    }
}

/* Positions of dZ's nonzeros in z[0..n), appended to col/val from k while
 * below cap; returns how many there are. col and val have 16 spare entries
 * past cap. */
AI int64_t nonzeros(const float *z, int n, int32_t *col, float *val, int64_t k, int64_t cap)
{
    int64_t c = 0;
    int i = 0;
#if FUSED_ISA == 2
    if (k + n <= cap) {
        /* the common case: room for a whole row, compress 16 at a time */
        for (; i + 16 <= n; i += 16) {
            const __m512 v = _mm512_loadu_ps(z + i);
            /* not-equal, unordered: NaN counts, as in the loop below */
            const __mmask16 nz = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
            const __m512i idx = _mm512_add_epi32(
                _mm512_set1_epi32(i),
                _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
            /* compress in registers and store all 16 (the lanes past the
             * count are overwritten next, or lie in the 16 spare entries past
             * cap): compress straight to memory is microcoded and slow on AMD */
            _mm512_storeu_si512(col + k + c, _mm512_maskz_compress_epi32(nz, idx));
            _mm512_storeu_ps(val + k + c, _mm512_maskz_compress_ps(nz, v));
            c += __builtin_popcount((unsigned)nz);
        }
    }
#endif
    for (; i < n; i++)
        if (z[i] != 0.0f) { /* NaN too (NaN != 0): it must reach dW */
            if (k + c < cap) {
                col[k + c] = i;
                val[k + c] = z[i];
            }
            c++;
        }
    return c;
}

AI void sparse_out_act(const SparseArgs *a, int act, int r0, int r1, int64_t *nnz,
                       double *loss)
{
    const int n = a->n;
    int64_t k = *nnz;
    for (int r = r0; r < r1; r++) {
        float *z = a->Z + (size_t)r * n;
        const int64_t e0 = a->rowptr[r], e1 = a->rowptr[r + 1];
        for (int64_t e = e0; e < e1; e++)
            a->xrow[a->col[e]] = a->val[e];
        *loss += rows_pass(act, a->q, z, a->xrow, a->I, a->b, 1, n, a->scale, 1,
                           a->bias ? a->db : NULL);
        for (int64_t e = e0; e < e1; e++)
            a->xrow[a->col[e]] = 0.0f;
        a->zptr[r] = k < a->zcap ? k : a->zcap;
        if (k <= a->zcap) /* past it, dZ goes to GEMMs: stop collecting */
            k += nonzeros(z, n, a->zcol, a->zval, k, a->zcap);
    }
    a->zptr[r1] = k < a->zcap ? k : a->zcap;
    *nnz = k;
}

void FNAME(sparse_output)(const SparseArgs *a, int r0, int r1, int64_t *nnz, double *loss)
{
    switch (a->act) {
    case ACT_RELU: sparse_out_act(a, ACT_RELU, r0, r1, nnz, loss); break;
    case ACT_GELU: sparse_out_act(a, ACT_GELU, r0, r1, nnz, loss); break;
    case ACT_POW: sparse_out_act(a, ACT_POW, r0, r1, nnz, loss); break;
    default: sparse_out_act(a, ACT_IDENTITY, r0, r1, nnz, loss); break;
    }
}

/* dH = dZ W^T row by row from dZ's nonzeros (unless dense_dh: then dH came
 * from a GEMM), masked by ReLU'(A) for relu_hidden: each dh row is summed in
 * L1 from rows of Wt that are only read. */
void FNAME(sparse_dh)(const SparseArgs *a, int dense_dh)
{
    const int mp = a->mp;
    for (int r = 0; r < a->B; r++) {
        const float *h = a->H + (size_t)r * mp;  /* (mp) */
        float *dh = a->dH + (size_t)r * mp;      /* (mp) */
        if (!dense_dh) {
            for (int j = 0; j < mp; j++)
                dh[j] = 0.0f;
            gather_axpy(dh, mp, a->zcol, a->zval, a->zptr[r], a->zptr[r + 1], a->Wt);
        }
        if (a->hidden_relu)
            for (int j = 0; j < a->m; j++)
                dh[j] = h[j] > 0.0f ? dh[j] : 0.0f;
    }
}

void FNAME(sparse_dwt)(const SparseArgs *a, int with_dz, int with_x)
{
    const int n = a->n, mp = a->mp;
    for (int i = 0; i < n; i++) {
        float *acc = a->dWt + (size_t)i * mp;
        if (with_dz)
            gather_axpy(acc, mp, a->zcrow, a->zcval, a->zcptr[i], a->zcptr[i + 1], a->H);
        if (with_x)
            gather_axpy(acc, mp, a->xcrow, a->xcval, a->xcptr[i], a->xcptr[i + 1], a->dH);
    }
}
