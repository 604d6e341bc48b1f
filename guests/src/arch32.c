/* guest32: 32-bit protected mode, paging off. Interrupts are not used: on these hosts a 32-bit
 * IRET runs through KVM's emulator and fails, so completion is by polling only. */
#include "guest.h"

const char arch_name[] = "i386";
int arch_irq_supported(void) { return 0; }
int arch_irq_attach(u32 gsi, void (*handler)(void *), void *ctx) { (void)gsi; (void)handler; (void)ctx; return -1; }
void arch_irq_enable(void) {}
void arch_irq_disable(void) {}
