/* One decode step's attention for every row and key head of a layer, in one pass over the
 * layer's keys and values (built by model_runner/engine/compiled.py, which says why).
 *
 * For each (row, key head) unit, with `groups` query heads per key head:
 *   scores[g][c] = scale * <query[g], key[c]>   for every column c of the buffer
 *   weights[g]   = softmax(scores[g]) over the columns the row may see (hidden[c] == 0)
 *   out[g]       = sum over c of weights[g][c] * value[c]
 * Hidden columns get weight exactly 0, whatever their keys and values hold (NaN included),
 * and are never read: a row's left padding and the buffer's columns not yet in use cost
 * nothing, so the caller may hand over whole buffers however little of them is in use.
 *
 * Rows that hold the same keys and values in their first columns (a request's beams what
 * they hold of one history, contrastive candidates all but their newest column) read them
 * from one row: row r takes columns c < shared[r] from row lead[r] (lead[r] == r,
 * shared[r] == 0: its own).
 * The rows of a request are neighbours, so the lead's columns are still in the core's cache
 * when the other rows come: the memory is read once per request, not once per row.
 *
 * Layouts (all contiguous): query and out [rows, kv_heads * groups, dim] float32; keys and
 * values [rows, kv_heads, columns, dim] float32; hidden [rows, columns], one byte per column;
 * lead and shared [rows] int64, the caller having checked 0 <= lead < rows and
 * 0 <= shared <= columns. The units are split evenly among `threads` OpenMP threads: torch's
 * own team, when this library's libgomp is the one torch already loaded. Returns 0, or -1
 * when scratch memory could not be had (out is then not written in full).
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "vectors.h"

/* e^x for x <= 0, after the row's largest score is taken away: range reduction to
 * x = n ln 2 + r, |r| <= ln 2 / 2, and a degree-6 polynomial for e^r (Cephes' expf
 * coefficients), within about one unit in the last place. Below -87 the result is
 * clamped to about 1.6e-38 (float32's smallest normal numbers), never 0 or NaN. */
static inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    union {
        float f;
        int32_t i;
    } two_to_n;
    two_to_n.i = ((int32_t)n + 127) << 23;
    return p * two_to_n.f;
}

/* Ask for a column's cache lines (into L2) ahead of their use. */
static inline void fetch_ahead(const float *column, int64_t dim) {
    for (int64_t d = 0; d < dim; d += 16) __builtin_prefetch(column + d, 0, 1);
}

/* Where one (row, key head) unit reads: its own keys and values, and below column `shared`
 * its lead row's. */
typedef struct {
    const float *keys, *values, *lead_keys, *lead_values;
    const uint8_t *hidden;
    int64_t shared;
} unit_memory;

static inline const float *key_at(const unit_memory *m, int64_t c, int64_t dim) {
    return (c < m->shared ? m->lead_keys : m->keys) + c * dim;
}

static inline const float *value_at(const unit_memory *m, int64_t c, int64_t dim) {
    return (c < m->shared ? m->lead_values : m->values) + c * dim;
}

/* One (row, key head) unit. `next` (the unit this thread does next, or NULL) is fetched ahead
 * column by column while this one computes: a unit's keys and values are short runs of memory
 * (19 KB each at GPT-2's shape, less what is hidden), too short for the hardware's own
 * prefetching to reach the memory's speed (measured: with half the columns hidden, 1.5 ms a
 * layer without, 0.9 ms with). */
static void one_unit(const float *query, const unit_memory *m, float *out, int64_t groups,
                     int64_t columns, int64_t dim, float scale, float *scores,
                     const unit_memory *next) {
    const uint8_t *hidden = m->hidden;
    for (int64_t g = 0; g < groups; g++) {
        const float *q = query + g * dim;
        float *s = scores + g * columns;
        float best = -INFINITY;
        for (int64_t c = 0; c < columns; c++) {
            if (next != NULL && g == 0 && !next->hidden[c]) fetch_ahead(key_at(next, c, dim), dim);
            if (hidden[c]) continue; /* never read: padding and unused columns cost nothing */
            const float *k = key_at(m, c, dim);
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int64_t d = 0; d < dim; d++) dot += q[d] * k[d];
            dot *= scale;
            s[c] = dot;
            if (dot > best) best = dot;
        }
        float total = 0.0f;
#pragma omp simd reduction(+ : total)
        for (int64_t c = 0; c < columns; c++) {
            float w = hidden[c] ? 0.0f : exp_nonpositive(s[c] - best);
            s[c] = w;
            total += w;
        }
        float inverse = total > 0.0f ? 1.0f / total : 0.0f; /* no visible column: zeros */
        for (int64_t c = 0; c < columns; c++) s[c] *= inverse;
        float *o = out + g * dim;
        for (int64_t d = 0; d < dim; d++) o[d] = 0.0f;
    }
    for (int64_t c = 0; c < columns; c++) {
        if (next != NULL && !next->hidden[c]) fetch_ahead(value_at(next, c, dim), dim);
        if (hidden[c]) continue; /* weight 0: a NaN value must not reach the sum */
        const float *v = value_at(m, c, dim);
        for (int64_t g = 0; g < groups; g++) {
            float w = scores[g * columns + c];
            float *o = out + g * dim;
#pragma omp simd
            for (int64_t d = 0; d < dim; d++) o[d] += w * v[d];
        }
    }
}

/* The same unit, faster, where the head size is a multiple of 64 (GPT-2's 64, most models'
 * 128 or 256): the columns the row sees are listed once, the query's 64-float blocks stay in
 * eight vector registers while four columns' dot products run side by side (the loop above
 * waits on one column's sum at a time), and the output's blocks stay in registers while the
 * weighted values are summed, column after column in the same order as above. The next
 * unit's columns are fetched a few at a time as this unit's are used, not all at once:
 * issued together, most of the requests wait for the core's few miss buffers (a burst-shaped
 * layer with cold caches: 0.33-0.57 ms spread out, 0.42-0.84 ms all at once). */
static inline float sum8(v8 v) {
    float lanes[8];
    memcpy(lanes, &v, sizeof lanes);
    return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
           ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

/* The columns a unit sees, in order, and the unit whose columns to fetch meanwhile. */
typedef struct {
    const int32_t *seen;
    int64_t n;
} column_list;

typedef struct {
    const unit_memory *memory; /* NULL: nothing to fetch */
    column_list columns;
} fetch_plan;

/* scores[i] += <q[0:64], key of column seen[i]> for the block of 64 at `offset`, fetching the
 * same block of the next unit's keys meanwhile. */
static void block_scores(const float *q, const unit_memory *m, column_list list, int64_t dim,
                         int64_t offset, float *scores, fetch_plan ahead) {
    v8 q0 = load8(q), q1 = load8(q + 8), q2 = load8(q + 16), q3 = load8(q + 24);
    v8 q4 = load8(q + 32), q5 = load8(q + 40), q6 = load8(q + 48), q7 = load8(q + 56);
#define DOT64(k)                                                                    \
    (((q0 * load8(k) + q1 * load8((k) + 8)) + (q2 * load8((k) + 16) + q3 * load8((k) + 24))) + \
     ((q4 * load8((k) + 32) + q5 * load8((k) + 40)) +                                  \
      (q6 * load8((k) + 48) + q7 * load8((k) + 56))))
    const int32_t *seen = list.seen, *later = ahead.columns.seen;
    int64_t n = list.n, i = 0, fetched = ahead.memory == NULL ? ahead.columns.n : 0;
    for (; i + 4 <= n; i += 4) {
        for (; fetched < ahead.columns.n && fetched < i + 4; fetched++)
            fetch_ahead(key_at(ahead.memory, later[fetched], dim) + offset, 64);
        const float *k0 = key_at(m, seen[i], dim) + offset;
        const float *k1 = key_at(m, seen[i + 1], dim) + offset;
        const float *k2 = key_at(m, seen[i + 2], dim) + offset;
        const float *k3 = key_at(m, seen[i + 3], dim) + offset;
        v8 a0 = DOT64(k0), a1 = DOT64(k1), a2 = DOT64(k2), a3 = DOT64(k3);
        scores[i] += sum8(a0);
        scores[i + 1] += sum8(a1);
        scores[i + 2] += sum8(a2);
        scores[i + 3] += sum8(a3);
    }
    for (; i < n; i++) {
        const float *k0 = key_at(m, seen[i], dim) + offset;
        scores[i] += sum8(DOT64(k0));
    }
#undef DOT64
    for (; fetched < ahead.columns.n; fetched++)
        fetch_ahead(key_at(ahead.memory, later[fetched], dim) + offset, 64);
}

/* out[0:64] = sum over i of weights[i] * value of column seen[i], block at `offset`, fetching
 * the same block of the next unit's values meanwhile. */
static void block_values(const float *weights, const unit_memory *m, column_list list,
                         int64_t dim, int64_t offset, float *out, fetch_plan ahead) {
    v8 o0 = {0}, o1 = {0}, o2 = {0}, o3 = {0}, o4 = {0}, o5 = {0}, o6 = {0}, o7 = {0};
    const int32_t *seen = list.seen, *later = ahead.columns.seen;
    int64_t fetched = ahead.memory == NULL ? ahead.columns.n : 0;
    for (int64_t i = 0; i < list.n; i++) {
        if (fetched < ahead.columns.n)
            fetch_ahead(value_at(ahead.memory, later[fetched++], dim) + offset, 64);
        const float *v = value_at(m, seen[i], dim) + offset;
        float w = weights[i];
        o0 += w * load8(v);
        o1 += w * load8(v + 8);
        o2 += w * load8(v + 16);
        o3 += w * load8(v + 24);
        o4 += w * load8(v + 32);
        o5 += w * load8(v + 40);
        o6 += w * load8(v + 48);
        o7 += w * load8(v + 56);
    }
    for (; fetched < ahead.columns.n; fetched++)
        fetch_ahead(value_at(ahead.memory, later[fetched], dim) + offset, 64);
    memcpy(out, &o0, 32);
    memcpy(out + 8, &o1, 32);
    memcpy(out + 16, &o2, 32);
    memcpy(out + 24, &o3, 32);
    memcpy(out + 32, &o4, 32);
    memcpy(out + 40, &o5, 32);
    memcpy(out + 48, &o6, 32);
    memcpy(out + 56, &o7, 32);
}

static int64_t list_seen(const uint8_t *hidden, int64_t columns, int32_t *seen) {
    int64_t n = 0;
    for (int64_t c = 0; c < columns; c++) {
        if (!hidden[c]) seen[n++] = (int32_t)c;
    }
    return n;
}

/* One unit by 64-float blocks; `seen` has room for two lists of `columns` (this unit's and
 * the next's). */
static void fast_unit(const float *query, const unit_memory *m, float *out, int64_t groups,
                      int64_t columns, int64_t dim, float scale, float *scores, int32_t *seen,
                      const unit_memory *next) {
    column_list list = {seen, list_seen(m->hidden, columns, seen)};
    fetch_plan ahead = {next, {seen + columns, 0}};
    if (next != NULL) ahead.columns.n = list_seen(next->hidden, columns, seen + columns);
    fetch_plan none = {NULL, {seen + columns, 0}};
    int64_t n = list.n;
    for (int64_t g = 0; g < groups; g++) {
        const float *q = query + g * dim;
        float *s = scores;
        fetch_plan plan = g == 0 ? ahead : none; /* (the other groups read the same memory) */
        for (int64_t i = 0; i < n; i++) s[i] = 0.0f;
        for (int64_t offset = 0; offset < dim; offset += 64)
            block_scores(q + offset, m, list, dim, offset, s, plan);
        float best = -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            s[i] *= scale;
            if (s[i] > best) best = s[i];
        }
        float total = 0.0f;
#pragma omp simd reduction(+ : total)
        for (int64_t i = 0; i < n; i++) {
            float w = exp_nonpositive(s[i] - best);
            s[i] = w;
            total += w;
        }
        float inverse = total > 0.0f ? 1.0f / total : 0.0f; /* no visible column: zeros */
        for (int64_t i = 0; i < n; i++) s[i] *= inverse;
        for (int64_t offset = 0; offset < dim; offset += 64)
            block_values(s, m, list, dim, offset, out + g * dim + offset, plan);
    }
}

static unit_memory memory_of(int64_t u, const float *keys, const float *values,
                             const uint8_t *hidden, const int64_t *lead, const int64_t *shared,
                             int64_t kv_heads, int64_t columns, int64_t dim) {
    int64_t row = u / kv_heads, span = columns * dim;
    int64_t lead_unit = lead[row] * kv_heads + u % kv_heads;
    unit_memory m = {keys + u * span,         values + u * span, keys + lead_unit * span,
                     values + lead_unit * span, hidden + row * columns, shared[row]};
    return m;
}

int labbot_decode_attention(const float *query, const float *keys, const float *values,
                            const uint8_t *hidden, const int64_t *lead, const int64_t *shared,
                            float *out, int64_t rows, int64_t kv_heads, int64_t groups,
                            int64_t columns, int64_t dim, float scale, int threads) {
    int64_t units = rows * kv_heads;
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        int64_t team = omp_get_num_threads(), me = omp_get_thread_num();
        int64_t first = units * me / team, last = units * (me + 1) / team;
        float *scores = first < last ? malloc(sizeof(float) * groups * columns) : NULL;
        int32_t *seen = first < last ? malloc(sizeof(int32_t) * 2 * columns) : NULL;
        if (first < last && (scores == NULL || seen == NULL)) {
            failed = 1;
        } else if (first < last) {
            unit_memory now = memory_of(first, keys, values, hidden, lead, shared, kv_heads,
                                        columns, dim);
            for (int64_t u = first; u < last; u++) {
                int more = u + 1 < last;
                unit_memory next = more ? memory_of(u + 1, keys, values, hidden, lead, shared,
                                                    kv_heads, columns, dim)
                                        : now;
                if (dim % 64 == 0)
                    fast_unit(query + u * groups * dim, &now, out + u * groups * dim, groups,
                              columns, dim, scale, scores, seen, more ? &next : NULL);
                else
                    one_unit(query + u * groups * dim, &now, out + u * groups * dim, groups,
                             columns, dim, scale, scores, more ? &next : NULL);
                now = next;
            }
        }
        free(scores);
        free(seen);
    }
    return failed ? -1 : 0;
}
