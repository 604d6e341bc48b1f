/* LAPIC, IOAPIC and SMP bring-up: every enabled processor of the MPTable other than the BSP is
 * started with INIT / SIPI / SIPI (Intel SDM vol. 3 §8.4.4, "MP initialization example"; the
 * sequence Linux's wakeup_secondary_cpu_via_init uses) through a real-mode trampoline copied
 * to a free RAM page below 1 MiB, and reports its LAPIC id. */
#include "guest.h"

#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310

static u32 lapic_rd(u32 reg) { return rd32(LAPIC_BASE + reg); }
static void lapic_wr(u32 reg, u32 v) { wr32(LAPIC_BASE + reg, v); }
u32 lapic_id(void) { return lapic_rd(LAPIC_ID) >> 24; }
void lapic_enable(void) {
	lapic_wr(LAPIC_SVR, 0x1ff); /* software enable, spurious vector 0xff */
	/* Symmetric I/O mode, as Linux sets it up when it uses the IOAPIC: mask every 8259 input
	 * (init_8259A masks all) and mask LVT0, the 8259's ExtINT path into the BSP (setup_local_APIC
	 * keeps LVT0 masked when an IOAPIC is in use). KVM resets the BSP's LVT0 to unmasked ExtINT, so
	 * on a board with an in-kernel 8259 an ISA interrupt would otherwise also arrive through the
	 * PIC, with the PIC's uninitialised vector base. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	lapic_wr(0x350, lapic_rd(0x350) | 0x10000);
}

u32 ioapic_read(u32 reg) {
	wr32(IOAPIC_BASE, reg);
	return rd32(IOAPIC_BASE + 0x10);
}
static void ioapic_write(u32 reg, u32 v) {
	wr32(IOAPIC_BASE, reg);
	wr32(IOAPIC_BASE + 0x10, v);
}
/* Redirection entry: fixed delivery, physical destination, active high, edge or level. */
void ioapic_route(u32 pin, u8 vector, u8 dest, int level) {
	ioapic_write(0x11 + 2 * pin, (u32)dest << 24);
	ioapic_write(0x10 + 2 * pin, vector | (level ? (1u << 15) : 0));
}
void ioapic_mask(u32 pin) { ioapic_write(0x10 + 2 * pin, 1u << 16); }

volatile u32 ap_seen_flag, ap_seen_id;
static u8 ap_stacks[8][4096] __attribute__((aligned(16)));

/* Called on each AP (in its final CPU mode) from entry*.S; it returns to a cli;hlt loop. */
void ap_main(void) {
	ap_seen_id = lapic_id();
	barrier();
	ap_seen_flag = 1;
}

static void icr_send(u32 apic, u32 lo) {
	for (int i = 0; i < 100000 && (lapic_rd(LAPIC_ICR_LO) & (1u << 12)); i++) cpu_relax();
	lapic_wr(LAPIC_ICR_HI, apic << 24);
	lapic_wr(LAPIC_ICR_LO, lo);
	for (int i = 0; i < 100000 && (lapic_rd(LAPIC_ICR_LO) & (1u << 12)); i++) cpu_relax();
}

static int page_free(u64 pg) {
	if (boot.nmem && !mem_is_ram(pg, 0x1000)) return 0;
	for (u32 i = 0; i < boot.nbusy; i++)
		if (pg < boot.busy[i].addr + boot.busy[i].size && boot.busy[i].addr < pg + 0x1000) return 0;
	if (mp.fp && pg <= mp.fp && mp.fp < pg + 0x1000) return 0;
	if (mp.table && pg < mp.table + 0x10000 && mp.table < pg + 0x1000) return 0;
	return 1;
}

void check_smp(void) {
	if (!mp.found) {
		check(0, "smp.count", "mptable", "no_mptable");
		return;
	}
	u64 tramp = 0;
	for (u64 pg = 0x8000; pg < 0x9f000; pg += 0x1000)
		if (page_free(pg)) { tramp = pg; break; }
	info("smp trampoline=0x%llx", (unsigned long long)tramp);
	if (!check(tramp != 0, "smp.trampoline", "free_ram_page<1MiB", tramp ? "free_ram_page<1MiB" : "none")) return;
	memcpy(phys(tramp), ap_tramp_start, (size_t)(ap_tramp_end - ap_tramp_start));
	u32 me = lapic_id(), started = 1;
	for (u32 i = 0; i < mp.ncpus; i++) {
		u32 apic = mp.cpu_apic[i];
		if (apic == me) continue;
		char name[32], exp[32];
		sfmt(name, sizeof(name), "smp.ap.%u", apic);
		sfmt(exp, sizeof(exp), "apic=%u", apic);
		ap_stack_top = (u32)(uptr)&ap_stacks[i & 7][4096];
		ap_seen_flag = 0;
		barrier();
		icr_send(apic, 0x4500); /* INIT, level assert */
		delay_us(10000);
		for (int k = 0; k < 2 && !ap_seen_flag; k++) {
			icr_send(apic, 0x4600 | (u32)(tramp >> 12)); /* STARTUP */
			delay_us(200);
		}
		/* Generous: under nested emulation (the nested-KVM lane: KVM inside QEMU's TCG) four vCPUs
		 * share two emulated CPUs and an AP took longer than 2 s to come up. A missing AP costs
		 * this wait once; a present one answers in microseconds to milliseconds. */
		u64 dl = deadline_ms(10000);
		while (!ap_seen_flag && !expired(dl)) cpu_relax();
		if (ap_seen_flag) {
			started++;
			checkf(ap_seen_id == apic, name, exp, "apic=%u", ap_seen_id);
		} else {
			check(0, name, exp, "timeout");
		}
	}
	check_dec("smp.count", mp.ncpus, started);
}
