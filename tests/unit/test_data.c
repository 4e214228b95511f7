/* test_data.c - Philox known answers, the batch laws (uniform, signed laws,
 * one_hot) and their determinism and moments, normal draws, hidden noise,
 * importances, the evaluation key (src/data). */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "polysweep/data.h"

#include "harness.h"

/* Known-answer vectors of Philox4x32-10 from Random123's tests/kat_vectors
 * (github.com/DEShawResearch/random123, lines "philox4x32 10 CTR[4] KEY[2]
 * EXPECTED[4]"), re-derived with this independent Python implementation, which
 * also gives the fourth (polysweep-specific) vector checking that the 64-bit
 * key is split as key[0] = low word, key[1] = high word:
 *
 *   M0, M1, W0, W1, MASK = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85, 0xFFFFFFFF
 *   def philox(c, k):
 *       c, k = list(c), list(k)
 *       for r in range(10):
 *           if r: k = [(k[0] + W0) & MASK, (k[1] + W1) & MASK]
 *           p0, p1 = M0 * c[0], M1 * c[2]
 *           c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & MASK, (p0 >> 32) ^ c[3] ^ k[1], p0 & MASK]
 *       return c
 *   philox([5, 7, 0, 2], [0x89abcdef, 0x01234567])
 *       -> e3993068 eba81554 114fed36 b9bb1e7c
 */
TEST(philox_known_answers)
{
    static const struct { uint32_t ctr[4]; uint64_t key; uint32_t out[4]; } kat[] = {
        {{0, 0, 0, 0}, 0, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, 0xffffffffffffffffull,
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, 0x299f31d0a4093822ull,
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
        {{5, 7, 0, 2}, 0x0123456789abcdefull, {0xe3993068, 0xeba81554, 0x114fed36, 0xb9bb1e7c}},
    };
    for (size_t c = 0; c < sizeof kat / sizeof kat[0]; c++) {
        uint32_t out[4];
        philox4x32(kat[c].ctr, kat[c].key, out);
        for (int w = 0; w < 4; w++)
            CHECK_INT_EQ(out[w], kat[c].out[w]);
    }
}

static TaskSpec spec(int n, double density)
{
    TaskSpec t;
    memset(&t, 0, sizeof t);
    t.arch = ARCH_LINEAR;
    t.n = n;
    t.m = 2;
    t.density = density;
    t.sparsity = 1.0 - density;
    t.importance = IMPORTANCE_CONSTANT;
    t.seed = 1;
    return t;
}

/* The last KAT vector is block 5 of step 7 in stream 2 (STREAM_BATCH): it
 * feeds elements 10 (words 0, 1) and 11 (words 2, 3) of a batch. Word 2 is
 * 0x114fed36 = 290450742, so element 11 is active iff 290450742 < p 2^32. */
TEST(sample_matches_counter_layout)
{
    const uint64_t key = 0x0123456789abcdefull;
    TaskSpec t = spec(6, 0.5);
    float x[4 * 6];
    data_sample(&t, key, STREAM_BATCH, 7, 4, x);
    /* 0xe3993068 >= 2^31: element 10 inactive; 0x114fed36 < 2^31: 11 active. */
    CHECK(x[10] == 0.0f);
    CHECK(x[11] == (float)(0xb9bb1e7cu >> 8) * 0x1.0p-24f);

    /* Every element against the scalar generator, for an odd element count
     * (the last block is half used) and several densities, including the
     * threshold edge: p 2^32 = 290450742 exactly makes u = 290450742 inactive,
     * p 2^32 = 290450743 makes it active. */
    const double dens[] = {1.0, 0.5, 0.05, 290450742.0 / 4294967296.0,
                           290450743.0 / 4294967296.0, 1e-12};
    for (size_t d = 0; d < sizeof dens / sizeof dens[0]; d++) {
        TaskSpec td = spec(7, dens[d]);
        enum { B = 9 };             /* 63 elements: 2 chunks of lanes, odd tail */
        float xs[B * 7];
        int64_t nnz = data_sample(&td, key, STREAM_BATCH, 7, B, xs);
        int64_t count = 0, bad = 0;
        for (int k = 0; k < B * 7; k++) {
            uint32_t ctr[4] = {(uint32_t)(k / 2), 7, 0, STREAM_BATCH}, o[4];
            philox4x32(ctr, key, o);
            uint32_t a = o[2 * (k & 1)], u = o[2 * (k & 1) + 1];
            float want = (double)a < dens[d] * 4294967296.0 ? rng_unit_f32(u) : 0.0f;
            bad += memcmp(&want, &xs[k], sizeof want) != 0;
            count += want != 0.0f;
        }
        CHECK_INT_EQ(bad, 0);
        CHECK_INT_EQ(nnz, count);
    }
    {
        TaskSpec te = spec(6, 290450742.0 / 4294967296.0);
        data_sample(&te, key, STREAM_BATCH, 7, 4, x);
        CHECK(x[11] == 0.0f);
        te.density = 290450743.0 / 4294967296.0;
        data_sample(&te, key, STREAM_BATCH, 7, 4, x);
        CHECK(x[11] != 0.0f);
    }
}

TEST(sample_statistics)
{
    const double ps[] = {1.0, 0.3, 0.01};
    for (size_t c = 0; c < sizeof ps / sizeof ps[0]; c++) {
        TaskSpec t = spec(100, ps[c]);
        const int B = 20000;
        const int64_t N = (int64_t)B * t.n;
        float *x = malloc((size_t)N * sizeof *x);
        REQUIRE(x);
        int64_t nnz = data_sample(&t, 42, STREAM_BATCH, 3, B, x);
        int64_t active = 0, outside = 0;
        double sum = 0, sum2 = 0;
        for (int64_t k = 0; k < N; k++) {
            if (x[k] != 0.0f) {
                active++;
                sum += x[k];
                sum2 += (double)x[k] * x[k];
            }
            outside += !(x[k] >= 0.0f && x[k] < 1.0f);
        }
        free(x);
        CHECK_INT_EQ(outside, 0);
        CHECK_INT_EQ(nnz, active);
        /* Bernoulli fraction within 4 sigma (a value of exactly 0 while
         * active has probability 2^-24 per element: negligible here). */
        double p = ps[c], frac = (double)active / (double)N;
        double sigma = sqrt(p * (1 - p) / (double)N);
        CHECK_NEAR(frac, p, 4 * sigma + 1e-12);
        if (p == 1.0)
            CHECK_INT_EQ(active, N);
        /* Active values are U[0, 1): mean 1/2 and variance 1/12, within 4
         * sigma (sd of the mean sqrt(1/12 / k), of the second moment
         * sqrt((1/5 - 1/9) / k)). */
        double mean = sum / (double)active, m2 = sum2 / (double)active;
        CHECK_NEAR(mean, 0.5, 4 * sqrt(1.0 / 12 / (double)active));
        CHECK_NEAR(m2, 1.0 / 3, 4 * sqrt((0.2 - 1.0 / 9) / (double)active));
    }
}

TEST(sample_determinism_and_prefix)
{
    TaskSpec t = spec(13, 0.4);
    enum { B = 257 };
    static float a[B * 13], b[B * 13], c[B * 13];
    data_sample(&t, 99, STREAM_BATCH, 5, B, a);
    data_sample(&t, 99, STREAM_BATCH, 5, B, b);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* A smaller batch is a prefix: B = 1, 10, 31 (odd element counts). */
    const int sizes[] = {1, 10, 31, 128};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        memset(c, 0xff, sizeof c);
        int64_t nnz = data_sample(&t, 99, STREAM_BATCH, 5, sizes[s], c);
        CHECK(memcmp(a, c, (size_t)sizes[s] * 13 * sizeof(float)) == 0);
        /* nothing written past the batch */
        uint32_t tail;
        memcpy(&tail, &c[sizes[s] * 13], sizeof tail);
        CHECK_INT_EQ(tail, 0xffffffffu);
        int64_t count = 0;
        for (int k = 0; k < sizes[s] * 13; k++)
            count += c[k] != 0.0f;
        CHECK_INT_EQ(nnz, count);
    }
    /* Different steps, streams, keys (including keys that differ only in the
     * high word) give different batches. */
    data_sample(&t, 99, STREAM_BATCH, 6, B, c);
    CHECK(memcmp(a, c, sizeof a) != 0);
    data_sample(&t, 99, STREAM_BATCH, 5 + (1ull << 32), B, c);
    CHECK(memcmp(a, c, sizeof a) != 0);
    data_sample(&t, 99, STREAM_EVAL, 5, B, c);
    CHECK(memcmp(a, c, sizeof a) != 0);
    data_sample(&t, 100, STREAM_BATCH, 5, B, c);
    CHECK(memcmp(a, c, sizeof a) != 0);
    data_sample(&t, 99 + (1ull << 32), STREAM_BATCH, 5, B, c);
    CHECK(memcmp(a, c, sizeof a) != 0);
    /* Count how many elements coincide between two steps: for independent
     * draws at p = 0.4 both are zero with probability 0.36, and equal nonzero
     * values essentially never. */
    data_sample(&t, 99, STREAM_BATCH, 6, B, c);
    int same_nonzero = 0;
    for (int k = 0; k < B * 13; k++)
        same_nonzero += a[k] != 0.0f && a[k] == c[k];
    CHECK(same_nonzero <= 2);
}

TEST(normal_moments)
{
    const int64_t N = 1000003; /* not a multiple of 4: the last block is partial */
    float *z = malloc((size_t)N * sizeof *z);
    REQUIRE(z);
    const float sd = 0.25f;
    data_normal(7, STREAM_INIT, 0, sd, z, N);
    double s1 = 0, s2 = 0, s4 = 0;
    int64_t within1 = 0;
    for (int64_t k = 0; k < N; k++) {
        double v = z[k] / sd;
        s1 += v;
        s2 += v * v;
        s4 += v * v * v * v;
        within1 += fabs(v) < 1.0;
    }
    double mean = s1 / N, var = s2 / N - mean * mean, kurt = s4 / N;
    /* 4 sigma: sd of the mean 1/sqrt(N), of the variance sqrt(2/N), of the
     * fourth moment sqrt((105 - 9)/N); P(|z| < 1) = 0.682689492. */
    CHECK_NEAR(mean, 0.0, 4 / sqrt((double)N));
    CHECK_NEAR(var, 1.0, 4 * sqrt(2.0 / N));
    CHECK_NEAR(kurt, 3.0, 4 * sqrt(96.0 / N));
    CHECK_NEAR((double)within1 / N, 0.682689492, 4 * sqrt(0.2166 / N));

    /* The first block by hand: Box-Muller from words 0, 1 and 2, 3. */
    uint32_t ctr[4] = {0, 0, 0, STREAM_INIT}, o[4];
    philox4x32(ctr, 7, o);
    for (int pair = 0; pair < 2; pair++) {
        double r = sqrt(-2 * log(((double)o[2 * pair] + 0.5) / 4294967296.0));
        double th = 2 * M_PI * (((double)o[2 * pair + 1] + 0.5) / 4294967296.0);
        CHECK(z[2 * pair] == (float)(0.25 * r * cos(th)));
        CHECK(z[2 * pair + 1] == (float)(0.25 * r * sin(th)));
    }
    /* A prefix of a longer request is the same draws. */
    float w[7];
    data_normal(7, STREAM_INIT, 0, sd, w, 7);
    CHECK(memcmp(w, z, sizeof w) == 0);
    /* Another step differs. */
    data_normal(7, STREAM_INIT, 1, sd, w, 7);
    CHECK(memcmp(w, z, sizeof w) != 0);
    free(z);
}

TEST(importance_laws)
{
    TaskSpec t = spec(20, 1.0);
    double I[1000];
    t.importance = IMPORTANCE_DECAY;
    t.importance_rate = 0.7;
    data_importance(&t, I);
    double want = 1.0;
    for (int i = 0; i < 20; i++, want *= 0.7)
        CHECK_REL(I[i], want, 1e-14, 0);

    t.importance = IMPORTANCE_CONSTANT;
    data_importance(&t, I);
    for (int i = 0; i < 20; i++)
        CHECK(I[i] == 1.0);

    t.importance = IMPORTANCE_RANGE;
    t.importance_hi = 1.0;
    t.importance_lo = 0.01;
    t.n = 5; /* 1, 0.01^(1/4), ..., 0.01: log-spaced */
    data_importance(&t, I);
    CHECK_REL(I[0], 1.0, 1e-15, 0);
    CHECK_REL(I[1], sqrt(0.1), 1e-14, 0);
    CHECK_REL(I[2], 0.1, 1e-14, 0);
    CHECK_REL(I[3], sqrt(0.001), 1e-14, 0);
    CHECK_REL(I[4], 0.01, 1e-14, 0);
    t.n = 1;
    t.importance_hi = 3.0;
    data_importance(&t, I);
    CHECK(I[0] == 3.0);

    /* 0.9^i is below FLT_MIN past i = log(FLT_MIN)/log(0.9) ~ 837: flushed. */
    t.n = 1000;
    t.importance = IMPORTANCE_DECAY;
    t.importance_rate = 0.9;
    data_importance(&t, I);
    int first_zero = -1;
    for (int i = 0; i < 1000; i++)
        if (I[i] == 0.0) { first_zero = i; break; }
    int expect = (int)ceil(log(FLT_MIN) / log(0.9)); /* first i with 0.9^i < FLT_MIN */
    CHECK(first_zero >= expect - 1 && first_zero <= expect);
    CHECK(I[first_zero - 1] >= FLT_MIN);
    for (int i = first_zero; i < 1000; i++)
        CHECK(I[i] == 0.0);
}

/* ---- value laws ---- */

/* Each element of a signed law against a scalar restatement of data.h's
 * layout, for an odd element count (the last block half used). */
TEST(signed_laws_match_counter_layout)
{
    const uint64_t key = 0x0123456789abcdefull;
    const int laws[] = {VALUES_UNIFORM_SIGNED, VALUES_GAUSSIAN, VALUES_RADEMACHER};
    for (int l = 0; l < 3; l++)
        for (int uv = 0; uv < 2; uv++) {
            TaskSpec t = spec(7, 0.45);
            t.values = laws[l];
            t.unit_variance = uv;
            const double mu2 = laws[l] == VALUES_UNIFORM_SIGNED ? 1.0 / 3 : 1.0;
            const double sc = uv ? 1 / sqrt(0.45 * mu2) : 1.0;
            CHECK_REL(data_value_scale(&t), sc, 1e-15, 0);
            enum { B = 9 };
            float xs[B * 7];
            int64_t nnz = data_sample(&t, key, STREAM_BATCH, 7, B, xs);
            int64_t count = 0, bad = 0;
            for (int k = 0; k < B * 7; k++) {
                uint32_t ctr[4] = {(uint32_t)(k / 2), 7, 0, STREAM_BATCH}, o[4];
                philox4x32(ctr, key, o);
                uint32_t a = o[2 * (k & 1)], v = o[2 * (k & 1) + 1];
                double val;
                if (laws[l] == VALUES_GAUSSIAN) {
                    double r = sqrt(-2 * log(((double)o[1] + 0.5) / 4294967296.0));
                    double th = 2 * M_PI * (((double)o[3] + 0.5) / 4294967296.0);
                    val = k & 1 ? r * sin(th) : r * cos(th);
                } else if (laws[l] == VALUES_RADEMACHER) {
                    val = v >> 31 ? -1.0 : 1.0;
                } else {
                    val = ((double)(v >> 8) + 0.5) / 8388608.0 - 1.0; /* (j + 1/2) 2^-23 - 1 */
                }
                float want = (double)a < 0.45 * 4294967296.0 ? (float)(sc * val) : 0.0f;
                bad += memcmp(&want, &xs[k], sizeof want) != 0;
                count += want != 0.0f;
            }
            CHECK_INT_EQ(bad, 0);
            CHECK_INT_EQ(nnz, count);
            /* The same active pattern as the uniform law; a prefix for smaller B. */
            TaskSpec tu = spec(7, 0.45);
            float xu[B * 7], xp[3 * 7];
            data_sample(&tu, key, STREAM_BATCH, 7, B, xu);
            int same = 0;
            for (int k = 0; k < B * 7; k++)
                same += (xu[k] != 0.0f) == (xs[k] != 0.0f);
            CHECK_INT_EQ(same, B * 7);
            data_sample(&t, key, STREAM_BATCH, 7, 3, xp);
            CHECK(memcmp(xp, xs, sizeof xp) == 0);
        }
}

/* Sampled moments against data_value_moment and data_kurtosis: E[x^k] =
 * p E[xi^k] for k = 2, 4, 6 and the kurtosis E[x^4]/E[x^2]^2, within 5
 * standard errors (of E[x^k]: sqrt((p mu_2k - (p mu_k)^2) / N)); and the
 * kurtosis formulas of science.md: 3/p, 1/p, 9/(5p). */
TEST(law_moments_and_kurtosis)
{
    const int laws[] = {VALUES_UNIFORM, VALUES_UNIFORM_SIGNED, VALUES_GAUSSIAN,
                        VALUES_RADEMACHER};
    const double dens[] = {1.0, 0.2};
    const int B = 4000, n = 50;
    float *x = malloc((size_t)B * n * sizeof *x);
    REQUIRE(x);
    for (int l = 0; l < 4; l++)
        for (int d = 0; d < 2; d++)
            for (int uv = 0; uv <= (laws[l] != VALUES_UNIFORM); uv++) {
                TaskSpec t = spec(n, dens[d]);
                t.values = laws[l];
                t.unit_variance = uv;
                const double p = dens[d], N = (double)B * n;
                data_sample(&t, 77, STREAM_BATCH, 1, B, x);
                double mom[7] = {0};
                for (int64_t k = 0; k < (int64_t)B * n; k++) {
                    double v = x[k], pw = 1;
                    for (int e = 1; e <= 6; e++)
                        mom[e] += (pw *= v);
                }
                for (int e = 2; e <= 6; e += 2) {
                    double want = p * data_value_moment(&t, e);
                    double var = p * data_value_moment(&t, 2 * e) - want * want;
                    CHECK_NEAR(mom[e] / N, want, 5 * sqrt(var / N) + 1e-6 * want);
                }
                /* odd moments vanish for the symmetric laws */
                if (laws[l] != VALUES_UNIFORM)
                    CHECK_NEAR(mom[1] / N, 0.0, 5 * sqrt(p * data_value_moment(&t, 2) / N));
                double K = (mom[4] / N) / ((mom[2] / N) * (mom[2] / N));
                CHECK_REL(K, data_kurtosis(&t), 0.03, 0);
                double formula = laws[l] == VALUES_GAUSSIAN ? 3 / p
                                 : laws[l] == VALUES_RADEMACHER ? 1 / p : 1.8 / p;
                CHECK_REL(data_kurtosis(&t), formula, 1e-14, 0);
                if (uv) /* unit variance, the CAP convention */
                    CHECK_REL(p * data_value_moment(&t, 2), 1.0, 1e-14, 0);
                CHECK_REL(data_law_kurtosis(laws[l]), formula * p, 1e-14, 0);
            }
    free(x);
    /* The laws' moments by hand. */
    CHECK(data_law_moment(VALUES_GAUSSIAN, 6) == 15.0);
    CHECK(data_law_moment(VALUES_GAUSSIAN, 8) == 105.0);
    CHECK(data_law_moment(VALUES_GAUSSIAN, 3) == 0.0);
    CHECK(data_law_moment(VALUES_UNIFORM, 3) == 0.25);
    CHECK(data_law_moment(VALUES_UNIFORM_SIGNED, 4) == 0.2);
    CHECK(data_law_moment(VALUES_RADEMACHER, 10) == 1.0);
    CHECK(data_law_moment(VALUES_GAUSSIAN, 0) == 1.0);
    CHECK(isnan(data_law_moment(VALUES_GAUSSIAN, -1)));
    TaskSpec g = spec(4, 0.25);
    g.values = VALUES_GAUSSIAN;
    g.unit_variance = 1; /* xi / sqrt(p): E = (k-1)!! p^(-k/2) */
    CHECK_REL(data_value_moment(&g, 6), 15.0 * 64, 1e-14, 0);
    CHECK_REL(data_value_moment(&g, 4), 3.0 * 16, 1e-14, 0);
    /* unit_variance does not apply to uniform: no scaling */
    TaskSpec u = spec(4, 0.25);
    u.unit_variance = 1;
    CHECK(data_value_scale(&u) == 1.0);
    CHECK_REL(data_kurtosis(&u), 7.2, 1e-14, 0);
    /* one_hot: x_i is 1 with probability 1/n */
    u.values = VALUES_ONE_HOT;
    CHECK(data_kurtosis(&u) == 4.0);
    CHECK(data_value_moment(&u, 3) == 1.0);
    CHECK(isnan(data_law_kurtosis(VALUES_ONE_HOT)));
    /* the laws' own kurtosis, mu4 / mu2^2, against the moments */
    for (int v = 0; v < VALUES_ONE_HOT; v++) {
        double mu2 = data_law_moment(v, 2);
        CHECK_REL(data_law_kurtosis(v), data_law_moment(v, 4) / (mu2 * mu2), 1e-15, 0);
    }
    CHECK(data_law_kurtosis(VALUES_UNIFORM) == 1.8); /* exactly: kurtosis 1.8 is density 1 */
}

TEST(one_hot_is_the_identity)
{
    TaskSpec t = spec(6, 0.3);
    t.values = VALUES_ONE_HOT;
    float x[13 * 6];
    for (uint64_t step = 0; step < 3; step++) {
        memset(x, 0x7f, sizeof x);
        CHECK_INT_EQ(data_sample(&t, 5, STREAM_BATCH, step, 6, x), 6);
        for (int r = 0; r < 6; r++)
            for (int i = 0; i < 6; i++)
                CHECK(x[r * 6 + i] == (r == i ? 1.0f : 0.0f));
    }
    /* more rows repeat the basis; data_one_hot starts anywhere */
    data_sample(&t, 5, STREAM_BATCH, 0, 13, x);
    for (int r = 0; r < 13; r++)
        CHECK(x[r * 6 + r % 6] == 1.0f);
    data_one_hot(6, 4, 3, x);
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 6; i++)
            CHECK(x[r * 6 + i] == (i == (4 + r) % 6 ? 1.0f : 0.0f));
}

/* One draw of m values per step, from STREAM_NOISE: bipolar +-sigma from
 * one word each, gaussian = data_normal; deterministic, new every step. */
TEST(hidden_noise_draws)
{
    TaskSpec t = spec(3, 1.0);
    t.m = 4001;
    t.noise_sigma = 0.25;
    static float a[4001], b[4001], z[4001];
    t.hidden_noise = NOISE_BIPOLAR;
    data_hidden_noise(&t, 42, 9, a);
    data_hidden_noise(&t, 42, 9, b);
    CHECK(memcmp(a, b, sizeof a) == 0);
    int plus = 0, bad = 0;
    for (int j = 0; j < t.m; j++) {
        uint32_t ctr[4] = {(uint32_t)(j / 4), 9, 0, STREAM_NOISE}, o[4];
        philox4x32(ctr, 42, o);
        bad += a[j] != (o[j % 4] < 0x80000000u ? 0.25f : -0.25f);
        plus += a[j] > 0;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_NEAR(plus, t.m / 2.0, 4 * sqrt(t.m / 4.0));
    data_hidden_noise(&t, 42, 10, b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    t.hidden_noise = NOISE_GAUSSIAN;
    data_hidden_noise(&t, 42, 9, a);
    data_normal(42, STREAM_NOISE, 9, 0.25f, z, t.m);
    CHECK(memcmp(a, z, sizeof a) == 0);
    double s2 = 0;
    for (int j = 0; j < t.m; j++)
        s2 += (double)a[j] * a[j];
    CHECK_NEAR(s2 / t.m, 0.0625, 4 * 0.0625 * sqrt(2.0 / t.m));
    t.hidden_noise = NOISE_NONE;
    data_hidden_noise(&t, 42, 9, a);
    for (int j = 0; j < t.m; j++)
        CHECK(a[j] == 0.0f);
}

TEST(eval_key_depends_on_data_law_only)
{
    TaskSpec a = spec(20, 0.1);
    a.key = 1;
    uint64_t k0 = data_eval_key(&a);
    TaskSpec b = a;
    b.arch = ARCH_RELU_OUTPUT;
    b.m = 17;
    b.bias = 1;
    b.lr = 0.5;
    b.key = 12345;
    b.importance_rate = 0.3;
    CHECK(data_eval_key(&b) == k0);
    b = a;
    b.seed = 2;
    CHECK(data_eval_key(&b) != k0);
    b = a;
    b.n = 21;
    CHECK(data_eval_key(&b) != k0);
    b = a;
    b.density = nextafter(0.1, 1.0); /* %.17g distinguishes neighbours */
    CHECK(data_eval_key(&b) != k0);
    CHECK(data_eval_key(&a) == k0); /* pure */
    /* The uniform law keeps the key of "eval;seed=1;n=20;density=0.1..." it
     * had before value laws existed; the others append their law (keys from
     * FNV-1a + splitmix64 in Python, as in test_grid.c). */
    CHECK(k0 == 0xccc8095e49e88a80ull);
    b = a;
    b.values = VALUES_GAUSSIAN;
    b.unit_variance = 1;
    CHECK(data_eval_key(&b) == 0xe221f31e8177b2b9ull);
    b.unit_variance = 0;
    uint64_t kg = data_eval_key(&b);
    CHECK(kg != k0 && kg != 0xe221f31e8177b2b9ull);
    b.values = VALUES_RADEMACHER;
    CHECK(data_eval_key(&b) != kg && data_eval_key(&b) != k0);
    /* the model's options do not matter */
    b = a;
    b.hidden_noise = NOISE_GAUSSIAN;
    b.noise_sigma = 0.1;
    b.l1 = 0.01;
    b.optimizer = OPT_SGD;
    b.q = 5;
    CHECK(data_eval_key(&b) == k0);
}

HARNESS_MAIN
