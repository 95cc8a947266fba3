/*
 * LD_PRELOAD library for benchmarks: this process sees a CPU without AVX-512 (and
 * without AVX-VNNI), as an AVX2-only host would show it, so that ONNX Runtime, NumPy
 * and OpenBLAS run the kernels they would run there (an AVX2 build of pyreparam's C
 * runtime, PYREPARAM_SIMD=avx2, does the same for our side):
 *
 *   gcc -O2 -shared -fPIC tools/emulate_avx2_host.c -o build/emulate_avx2_host.so
 *   LD_PRELOAD=$PWD/build/emulate_avx2_host.so python tools/bench_infer.py ...
 *
 * (tools/bench_infer.py prints the instruction sets the process sees.) Not a sandbox:
 * the AVX-512 instructions still run if some code uses them without asking CPUID. The CPUID instruction is made to fault
 * (arch_prctl ARCH_SET_CPUID, Linux >= 4.12, CPUs with CPUID faulting); the SIGSEGV
 * handler runs the real CPUID with faulting off for that instant, clears the AVX-512
 * bits and resumes after the instruction. Libraries that choose their kernels from
 * CPUID when they load or first run (ONNX Runtime's MLAS, OpenBLAS, NumPy) then take
 * their AVX2 paths. Any other SIGSEGV gets the default action.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef ARCH_SET_CPUID
#define ARCH_SET_CPUID 0x1012
#endif

/* leaf 7 subleaf 0: EBX AVX512F, DQ, IFMA, PF, ER, CD, BW, VL; ECX VBMI, VBMI2, VNNI,
 * BITALG, VPOPCNTDQ; EDX 4VNNIW, 4FMAPS, VP2INTERSECT, FP16. Subleaf 1: EAX AVX-VNNI,
 * AVX512_BF16. Leaf 0xD subleaf 0: EAX the opmask / ZMM state components. */
#define MASK_7_EBX ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | \
                    (1u << 28) | (1u << 30) | (1u << 31))
#define MASK_7_ECX ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
#define MASK_7_EDX ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23))
#define MASK_71_EAX ((1u << 4) | (1u << 5))
#define MASK_D_EAX (7u << 5)

static void on_segv(int sig, siginfo_t *info, void *uc)
{
    greg_t *g = ((ucontext_t *)uc)->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)g[REG_RIP];
    unsigned leaf, sub, a, b, c, d;
    (void)info;
    if (ip[0] != 0x0F || ip[1] != 0xA2) { /* not CPUID: the default action */
        signal(sig, SIG_DFL);
        return;
    }
    leaf = (unsigned)g[REG_RAX];
    sub = (unsigned)g[REG_RCX];
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    __cpuid_count(leaf, sub, a, b, c, d);
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
    if (leaf == 7 && sub == 0) {
        b &= ~MASK_7_EBX;
        c &= ~MASK_7_ECX;
        d &= ~MASK_7_EDX;
    } else if (leaf == 7 && sub == 1) {
        a &= ~MASK_71_EAX;
    } else if (leaf == 0xD && sub == 0) {
        a &= ~MASK_D_EAX;
    }
    g[REG_RAX] = a;
    g[REG_RBX] = b;
    g[REG_RCX] = c;
    g[REG_RDX] = d;
    g[REG_RIP] += 2;
}

__attribute__((constructor)) static void emulate_avx2_host(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        perror("emulate_avx2_host: arch_prctl(ARCH_SET_CPUID) (no CPUID faulting?)");
    }
}
