/*
 * What every tools/mcu firmware measures with: the plugin's marker (mcu_mark, whose
 * first instruction insn_count.c watches) and the stack high-water mark (the free
 * stack painted below the current stack pointer, then searched for the deepest
 * overwritten word). Included by exactly one .c file of each firmware.
 */
#ifndef MCU_PROBE_H
#define MCU_PROBE_H

#include <stdint.h>

#define STACK_PAINT 0xA5A5A5A5u

extern uint32_t __stack_limit;

/* The plugin's marker: its first instruction is what it watches. */
__attribute__((noinline, used)) void mcu_mark(int32_t k)
{
    __asm__ volatile("" : : "r"(k) : "memory");
}

static inline uint32_t *mcu_sp(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Paint the free stack below `sp` (minus a margin for this function's callees). */
static inline void mcu_stack_paint(uint32_t *sp)
{
    volatile uint32_t *p;
    for (p = &__stack_limit; p < sp - 64; ++p) {
        *p = STACK_PAINT;
    }
}

/* Bytes of stack used below `sp` since mcu_stack_paint(sp). */
static inline uint32_t mcu_stack_used(uint32_t *sp)
{
    const volatile uint32_t *p = &__stack_limit;
    while (p < sp && *p == STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)sp - (uintptr_t)p);
}

#endif
