/* A CPU torch.Generator's float64 uniforms at chosen places of its stream, the stream advanced
 * past all of them (built by model_runner/decoding/stream.py, which says why).
 *
 * PyTorch's CPU generator is a 32-bit Mersenne Twister (MT19937). `uniform_()` on a float64
 * tensor takes, for each element, two outputs (the first the high word) and keeps their low
 * 53 bits: u = ((hi << 32 | lo) & (2^53 - 1)) / 2^53. Generating the outputs is a few integer
 * operations a word; what `uniform_()` adds is the per-element call, conversion and store.
 * Here every output is generated (the stream must advance exactly as uniform_'s does), but
 * only the uniforms asked for are converted, and the others are only looked at for an exact
 * 0, which multinomial treats apart.
 *
 * The generator's state is the byte tensor `Generator.get_state()` hands out, laid out as
 * PyTorch's legacy state struct: the seed (uint64), `left` (int32), `seeded` (int32), `next`
 * (uint64), then the 624 words, each in a uint64. It is read and written in place; the
 * caller hands it back with `set_state()`. stream.py checks all of this against uniform_
 * itself before it is used.
 */

#include <stdint.h>
#include <string.h>

#define WORDS 624
#define SHIFT 397
#define MATRIX_A 0x9908b0dfU
#define UPPER 0x80000000U
#define LOWER 0x7fffffffU

typedef struct {
    uint64_t seed;
    int32_t left;
    int32_t seeded;
    uint64_t next;
    uint64_t words[WORDS];
} legacy_state;

static inline uint32_t twist(uint32_t u, uint32_t v) {
    return (((u & UPPER) | (v & LOWER)) >> 1) ^ ((v & 1U) ? MATRIX_A : 0U);
}

/* The next 624 words from the last 624, as PyTorch's mt19937 computes them. */
static void next_words(uint32_t *w) {
    int i = 0;
    for (; i < WORDS - SHIFT; i++) w[i] = w[i + SHIFT] ^ twist(w[i], w[i + 1]);
    for (; i < WORDS - 1; i++) w[i] = w[i + SHIFT - WORDS] ^ twist(w[i], w[i + 1]);
    w[WORDS - 1] = w[SHIFT - 1] ^ twist(w[WORDS - 1], w[0]);
}

static inline uint32_t temper(uint32_t y) {
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
}

static inline double uniform_of(uint32_t hi, uint32_t lo) {
    uint64_t bits = ((uint64_t)hi << 32 | lo) & ((1ULL << 53) - 1);
    return (double)bits * (1.0 / (double)(1ULL << 53));
}

/* Advance `state` by `count` float64 uniforms; out[i] = the uniform at places[i] (ascending,
 * each in [0, count)). Returns 1 when any of the `count` uniforms is exactly 0, else 0; -1
 * when the state's counters are not ones PyTorch leaves (nothing is written then). */
int labbot_uniforms_at(uint8_t *bytes, int64_t count, const int64_t *places, int64_t n,
                       double *out) {
    legacy_state state;
    memcpy(&state, bytes, sizeof state);
    int64_t left = state.left, next = (int64_t)state.next;
    if (left < 1 || left > WORDS || next < 0 || next > WORDS || (left > 1 && left + next != WORDS + 1))
        return -1;
    uint32_t w[WORDS];
    for (int i = 0; i < WORDS; i++) w[i] = (uint32_t)state.words[i];

    int64_t total = 2 * count, done = 0, p = 0; /* outputs taken; places answered */
    uint32_t previous = 0;                     /* the last output taken (tempered) */
    int zero = 0;
    while (done < total) {
        int64_t from, take;
        if (left == 1) { /* the call that finds left == 1 makes new words and takes the first */
            next_words(w);
            left = WORDS;
            from = 0;
            take = 1;
        } else {
            from = next;
            take = left - 1 < total - done ? left - 1 : total - done;
            left -= take;
        }
        next = from + take;
        /* A uniform is 0 only when its low word is 0 (tempering maps 0 to 0 alone) and its
         * high word's low 21 bits are 0 too. Low words are the outputs at odd places. */
        int64_t first_low = (done & 1) ? 0 : 1;
        uint32_t any_low_zero = 0;
        for (int64_t i = first_low; i < take; i += 2) any_low_zero |= (w[from + i] == 0U);
        if (any_low_zero) {
            for (int64_t i = first_low; i < take; i += 2) {
                if (w[from + i] != 0U) continue;
                uint32_t hi = i > 0 ? temper(w[from + i - 1]) : previous;
                if ((hi & 0x1fffffU) == 0U) zero = 1;
            }
        }
        int64_t end = done + take;
        for (; p < n && 2 * places[p] + 1 < end; p++) {
            int64_t high = 2 * places[p], low = high + 1;
            uint32_t hi = high >= done ? temper(w[from + (high - done)]) : previous;
            out[p] = uniform_of(hi, temper(w[from + (low - done)]));
        }
        previous = temper(w[from + take - 1]);
        done = end;
    }
    state.left = (int32_t)left;
    state.next = (uint64_t)next;
    for (int i = 0; i < WORDS; i++) state.words[i] = w[i];
    memcpy(bytes, &state, sizeof state);
    return zero;
}
