/*
 * microvm test guests: shared declarations.
 *
 * One source tree builds two PVH guests: guest32 (ELF32, stays in 32-bit protected mode, paging
 * off) and guest64 (ELF64, enters at the 32-bit PVH entry and switches to long mode with an
 * identity map of the low 4 GiB, as Linux's pvh head does). Everything here is shared; the
 * per-architecture parts are entry32.S/arch32.c and entry64.S/arch64.c.
 *
 * Constraints (see guests/README.md): freestanding, no SSE/x87, no 64-bit division in 32-bit code
 * (no libgcc), no builtins; every instruction may run through KVM's instruction emulator.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef uintptr_t uptr;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- raw access ------------------------------------------------------------------------- */
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }
/* x86 is TSO; a locked op orders stores before loads where the virtio spec asks for a full fence. */
#ifdef __x86_64__
static inline void mb(void) { __asm__ volatile("lock; orl $0,(%%rsp)" ::: "memory", "cc"); }
#else
static inline void mb(void) { __asm__ volatile("lock; orl $0,(%%esp)" ::: "memory", "cc"); }
#endif

/* Physical addresses are identity-mapped in both guests (below 4 GiB in guest32). */
static inline void *phys(u64 pa) { return (void *)(uptr)pa; }
static inline int phys_ok(u64 pa, u64 len) { return sizeof(uptr) == 8 || (pa + len <= 0x100000000ull && pa + len >= pa); }
static inline u8 rd8(u64 pa) { return *(volatile u8 *)phys(pa); }
static inline u16 rd16(u64 pa) { return *(volatile u16 *)phys(pa); }
static inline u32 rd32(u64 pa) { return *(volatile u32 *)phys(pa); }
static inline u64 rd64(u64 pa) { return (u64)rd32(pa) | ((u64)rd32(pa + 4) << 32); }
static inline void wr8(u64 pa, u8 v) { *(volatile u8 *)phys(pa) = v; }
static inline void wr16(u64 pa, u16 v) { *(volatile u16 *)phys(pa) = v; }
static inline void wr32(u64 pa, u32 v) { *(volatile u32 *)phys(pa) = v; }

static inline u64 rdtsc(void) {
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* ---- lib.c ------------------------------------------------------------------------------ */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
int vsfmt(char *buf, size_t size, const char *fmt, va_list ap);
int sfmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
u32 fnv1a(u32 h, const void *p, size_t n);
#define FNV1A_INIT 0x811c9dc5u
/* Deadline helpers: ms are approximate (TSC frequency from CPUID 0x15/0x16, else 2 GHz). */
u64 deadline_ms(u32 ms);
u32 get_tsc_khz(void);
int expired(u64 deadline);
void delay_us(u32 us);

/* ---- command line (cmdline.c) ----------------------------------------------------------- */
void cmdline_init(const char *cmdline);
const char *cmdline_raw(void);
/* Value of the first `key=value` token, copied into buf; 0 when absent. */
int param_str(const char *key, char *buf, size_t size);
/* Number parsed like Linux's %lli (0x hex, leading 0 octal, decimal); 0 if absent/invalid. */
int param_u64(const char *key, u64 *out);
int parse_u64(const char *s, const char **end, u64 *out);
int parse_ipv4(const char *s, u8 ip[4]);
/* Iterate `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` entries. */
struct mmio_dev_param { u64 size, base; u32 irq; int ok; char text[64]; };
int cmdline_virtio(struct mmio_dev_param *out, int max);

/* ---- report.c --------------------------------------------------------------------------- */
void out_init(void);
void out_select_uart(void);
void out_str(const char *s);
void outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* `ok|fail <name> expected=<exp> got=<got>`; returns ok. Spaces in values become '_'. */
int check(int ok, const char *name, const char *expected, const char *got);
int checkf(int ok, const char *name, const char *expected, const char *gotfmt, ...) __attribute__((format(printf, 4, 5)));
int check_hex(const char *name, u64 expected, u64 got);
int check_dec(const char *name, u64 expected, u64 got);
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void summary(void);
int uart_present(void);
void uart_probe_and_check(void);
void uart_irq_check(void);
/* virtio console becomes an output sink once ready: */
typedef void (*sink_fn)(const char *s, size_t n);
/* Replays everything printed so far from byte `skip` on, then streams. */
void out_attach_sink(sink_fn fn, size_t skip);
size_t out_first_line(char *buf, size_t size);
extern u32 report_pass, report_fail;

/* ---- boot checks ------------------------------------------------------------------------ */
struct boot_info {
	u64 start_info;
	int start_info_ok;
	u64 cmdline_pa;
	/* memmap copy (up to 64 entries) */
	u32 nmem;
	struct { u64 addr, size; u32 type; } mem[64];
	/* ranges the trampoline must avoid */
	u32 nbusy;
	struct { u64 addr, size; } busy[16];
};
extern struct boot_info boot;
void check_start_info(u64 pa);
int mem_is_ram(u64 addr, u64 size);

struct mp_info {
	int found;
	u64 fp, table;
	u32 ncpus; /* enabled processors */
	u8 cpu_apic[256];
	u8 bsp_apic;
	int bsp_count;
	u32 lapic;
	u8 ioapic_id;
	u32 ioapic_addr;
	int ioapic_ok;
	/* ISA IRQ / GSI -> IOAPIC pin, from INTSRC entries (0xff = none) */
	u8 route[64];
};
extern struct mp_info mp;
void check_mptable(void);
void dump_memory(int all);

void check_smp(void);
u32 lapic_id(void);
void lapic_enable(void);

void check_virtio_all(void);

/* ---- architecture hooks (arch32.c / arch64.c) ------------------------------------------- */
extern const char arch_name[];
/* Interrupt delivery to the BSP through the IOAPIC (only guest64); returns vector or -1. */
int arch_irq_supported(void);
int arch_irq_attach(u32 gsi, void (*handler)(void *), void *ctx);
void arch_irq_enable(void);
void arch_irq_disable(void);
void ioapic_route(u32 gsi, u8 vector, u8 dest, int level);
void ioapic_mask(u32 gsi);
u32 ioapic_read(u32 reg);

/* entry*.S */
extern u8 ap_tramp_start[], ap_tramp_end[];
extern volatile u32 ap_stack_top;
extern u8 _image_start[], _image_end[];
void guest_exit(void) __attribute__((noreturn));
void ap_main(void);

#define LAPIC_BASE 0xfee00000u
#define IOAPIC_BASE 0xfec00000u

#endif
