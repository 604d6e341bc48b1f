/* guest64: interrupts through the IOAPIC. Each device GSI g (IOAPIC pin g) gets vector 0x40+g,
 * edge-triggered, active high, fixed delivery to the BSP (as the MPTable's conforming ISA entries
 * say); the handler reads InterruptStatus, acknowledges it, counts, and sends the LAPIC EOI. */
#include "guest.h"

const char arch_name[] = "x86_64";

struct gate { u16 off0, sel; u8 ist, type; u16 off1; u32 off2, zero; } __attribute__((packed));
static struct gate idt[256] __attribute__((aligned(16)));
static struct { u16 limit; u64 base; } __attribute__((packed)) idtr;
extern u8 irq_stubs[];   /* 24 stubs, 16 bytes apart, for vectors 0x40..0x57 */
extern u8 irq_spurious[];
static void (*handlers[24])(void *);
static void *ctxs[24];
static u32 routed;

static void set_gate(int v, void *fn) {
	u64 a = (u64)(uptr)fn;
	idt[v] = (struct gate){ (u16)a, 0x18, 0, 0x8e, (u16)(a >> 16), (u32)(a >> 32), 0 };
}

void irq_dispatch(u64 vector) {
	u32 i = (u32)vector - 0x40;
	if (i < 24 && handlers[i]) handlers[i](ctxs[i]);
	wr32(LAPIC_BASE + 0xb0, 0); /* EOI */
}

int arch_irq_supported(void) { return 1; }
int arch_irq_attach(u32 pin, void (*handler)(void *), void *ctx) {
	if (pin >= 24) return -1;
	if (!idtr.base) {
		for (int v = 0; v < 24; v++) set_gate(0x40 + v, irq_stubs + 16 * v);
		set_gate(0xff, irq_spurious);
		idtr.limit = sizeof(idt) - 1;
		idtr.base = (u64)(uptr)idt;
		__asm__ volatile("lidt %0" : : "m"(idtr));
	}
	handlers[pin] = handler;
	ctxs[pin] = ctx;
	ioapic_route(pin, (u8)(0x40 + pin), (u8)lapic_id(), 0);
	routed |= 1u << pin;
	return 0x40 + (int)pin;
}
void arch_irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
void arch_irq_disable(void) {
	__asm__ volatile("cli" ::: "memory");
	for (u32 p = 0; p < 24; p++)
		if (routed & (1u << p)) ioapic_mask(p);
}
