#pragma once
// QLAB_VECTOR_CLONES before a kernel's definition: on x86-64 with GCC, the compiler also builds it
// for AVX2+FMA (x86-64-v3) and AVX-512 (x86-64-v4) and picks the widest the CPU has when the
// program loads. The portable build targets the 2003 baseline (SSE2, four floats at a time); the
// plain loops of these kernels vectorize for whatever width the clone has. Elsewhere (aarch64:
// NEON is baseline; other compilers) it expands to nothing.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define QLAB_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define QLAB_VECTOR_CLONES
#endif
