/*
 * Bare-metal start-up for the MPS2 Cortex-M boards under QEMU (mps2-an385 Cortex-M3,
 * mps2-an386 Cortex-M4, mps2-an500 Cortex-M7): the vector table, the reset handler
 * (copy .data, zero .bss, enable the FPU when the core has one, open the semihosting
 * handles, exit(main())) and fault handlers that report over semihosting and exit
 * with a non-zero status. Symbols come from link.ld.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern uint32_t __stack_top;

int main(void);
void initialise_monitor_handles(void);   /* newlib's librdimon (semihosting) */
void mcu_systick_handler(void);          /* main.c: counts SysTick wrap-arounds */

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
    uint32_t *src = &__data_load;
    uint32_t *dst;
    for (dst = &__data_start; dst < &__data_end; ++dst) {
        *dst = *src++;
    }
    for (dst = &__bss_start; dst < &__bss_end; ++dst) {
        *dst = 0;
    }
#if defined(__ARM_FP)
    /* CP10 and CP11 full access: the C library may use the FPU (hard-float ABI);
     * the int8 runtime never does (see the no-floating-point check in mcu.py). */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    initialise_monitor_handles();
    exit(main());
}

/* Any fault: say which and where, then exit(3) (the run fails). */
static void fault(const char *name)
{
    uint32_t *sp;
    __asm__ volatile("mrs %0, msp" : "=r"(sp));
    printf("FAULT %s: stacked pc 0x%08lx lr 0x%08lx\n", name, (unsigned long)sp[6],
           (unsigned long)sp[5]);
    exit(3);
}

void NMI_Handler(void) { fault("NMI"); }
void HardFault_Handler(void) { fault("HardFault"); }
void MemManage_Handler(void) { fault("MemManage"); }
void BusFault_Handler(void) { fault("BusFault"); }
void UsageFault_Handler(void) { fault("UsageFault"); }
void Default_Handler(void) { fault("unexpected interrupt"); }

/* The first 16 entries (core exceptions) plus room for the board's interrupts,
 * none of which is enabled. */
__attribute__((section(".vectors"), used))
static void (*const vectors[16 + 32])(void) = {
    (void (*)(void))(uintptr_t)&__stack_top,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0, 0, 0, 0,
    Default_Handler,          /* SVCall */
    Default_Handler,          /* DebugMonitor */
    0,
    Default_Handler,          /* PendSV */
    mcu_systick_handler,      /* SysTick */
    [16 ... 47] = Default_Handler,
};
