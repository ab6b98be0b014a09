/* Each row's k largest values (plus a per-row constant) in one pass over the row, for the
 * decisions of a decode step (built by model_runner/decoding/row_top.py, which says why).
 *
 * For row r, with v[i] = x[r][i] + add[r] (add may be NULL: 0 is not added, v[i] = x[r][i]),
 * values[r][0..k) and index[r][0..k) are the k largest v, largest first, as torch.topk gives
 * them whenever they are told apart: the row's k + 1 largest are kept as it is read, and
 * the row is marked `unsure` when two of those are equal or a value is NaN (where the
 * order torch.topk would give depends on how it breaks ties): the caller then asks torch.
 * v[i] is computed as the float sum x + add, the way torch adds a column to a matrix.
 *
 * Layout: x [rows, stride] float32 (the first `vocab` of each row read), add [rows] or
 * NULL, values [rows, k], index [rows, k] int64, unsure [rows] one byte each. Requires
 * 1 <= k < vocab and k <= MOST. Returns 0, or -1 when k is out of range (nothing written).
 */

#include <stdint.h>
#include <string.h>

#include "vectors.h"

#define MOST 128
#define BLOCK 64 /* values read between two looks at whether any is to be kept */

static inline int any_lane(v8i mask) {
    int32_t lanes[8];
    memcpy(lanes, &mask, sizeof lanes);
    int32_t all = 0;
    for (int j = 0; j < 8; j++) all |= lanes[j];
    return all != 0;
}

/* Put (value, i) into the descending list of `size` (its last one is dropped). */
static inline void insert(float *best, int64_t *at, int64_t size, float value, int64_t i) {
    int64_t j = size - 1;
    while (j > 0 && best[j - 1] < value) {
        best[j] = best[j - 1];
        at[j] = at[j - 1];
        j--;
    }
    best[j] = value;
    at[j] = i;
}

static int one_row(const float *x, float add, int use_add, int64_t vocab, int64_t k,
                   float *values, int64_t *index) {
    float best[MOST + 1];
    int64_t at[MOST + 1];
    int64_t size = k + 1, filled = 0;
    int nan = 0;
    int64_t i = 0;
    for (; i < vocab && filled < size; i++) { /* the first k + 1, sorted */
        float v = use_add ? x[i] + add : x[i];
        if (v != v) nan = 1;
        filled++;
        best[filled - 1] = -__builtin_inff();
        at[filled - 1] = -1;
        insert(best, at, filled, v, i);
    }
    v8 shift = {add, add, add, add, add, add, add, add};
    v8i seen_nan = {0};
    float floor = best[size - 1];
    v8 low = {floor, floor, floor, floor, floor, floor, floor, floor};
    for (; i + BLOCK <= vocab; i += BLOCK) { /* a block at a time: rarely anything to keep */
        v8i above = {0};
        for (int64_t j = 0; j < BLOCK; j += 8) {
            v8 v = load8(x + i + j);
            if (use_add) v = v + shift;
            seen_nan |= (v != v);
            above |= (v > low);
        }
        if (!any_lane(above)) continue;
        for (int64_t j = 0; j < BLOCK; j++) {
            float v = use_add ? x[i + j] + add : x[i + j];
            if (v > best[size - 1]) insert(best, at, size, v, i + j);
        }
        floor = best[size - 1];
        v8 raised = {floor, floor, floor, floor, floor, floor, floor, floor};
        low = raised;
    }
    for (; i < vocab; i++) {
        float v = use_add ? x[i] + add : x[i];
        if (v != v) nan = 1;
        if (v > best[size - 1]) insert(best, at, size, v, i);
    }
    int unsure = nan || any_lane(seen_nan);
    for (int64_t j = 0; j + 1 < size; j++)
        if (!(best[j] > best[j + 1])) unsure = 1; /* equal (or NaN): torch's tie order */
    memcpy(values, best, sizeof(float) * k);
    memcpy(index, at, sizeof(int64_t) * k);
    return unsure;
}

int labbot_row_top(const float *x, int64_t rows, int64_t stride, int64_t vocab, const float *add,
                   int64_t k, float *values, int64_t *index, uint8_t *unsure) {
    if (k < 1 || k >= vocab || k > MOST) return -1;
    for (int64_t r = 0; r < rows; r++)
        unsure[r] = (uint8_t)one_row(x + r * stride, add ? add[r] : 0.0f, add != NULL, vocab, k,
                                     values + r * k, index + r * k);
    return 0;
}
