/* Eight floats as one value, for the runner's C loops (model_runner/native.py builds them
 * with this folder on the include path): GCC's and Clang's vector extensions, which become
 * the CPU's own vector registers under -march=native (AVX2's on the lab's machine) and
 * plain code elsewhere. */
#ifndef LABBOT_VECTORS_H
#define LABBOT_VECTORS_H

#include <stdint.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* Eight floats from memory of any alignment. */
static inline v8 load8(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

#endif
