/* test_data.c - Philox known answers, the batch law and its determinism,
 * normal draws, importances, the evaluation key (src/data). */
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
}

HARNESS_MAIN
