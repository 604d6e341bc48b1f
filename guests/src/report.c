/* The report: every line goes to the 16550A at 0x3f8 when present and to the virtio console
 * once it is up (the console first receives a replay of everything printed before it). */
#include "guest.h"

#define COM1 0x3f8
u32 report_pass, report_fail;
static int uart_ok = -1;
static char logbuf[65536];
static size_t loglen;
static sink_fn sink;
static char linebuf[512];
static size_t linelen;

int uart_present(void) {
	if (uart_ok < 0) {
		/* The scratch register (offset 7) holds what is written to it on an 8250/16550; an
		 * absent device floats to 0xff. */
		outb(COM1 + 7, 0x5a);
		int a = inb(COM1 + 7) == 0x5a;
		outb(COM1 + 7, 0xa5);
		int b = inb(COM1 + 7) == 0xa5;
		uart_ok = a && b;
		if (uart_ok) {
			outb(COM1 + 1, 0x00); /* IER: no interrupts */
			outb(COM1 + 3, 0x03); /* LCR: 8N1 */
			outb(COM1 + 2, 0x07); /* FCR: enable and clear FIFOs */
		}
	}
	return uart_ok;
}

/* With FIFOs enabled (16550A), THRE means the 16-byte transmit FIFO is empty: after seeing it,
 * 16 bytes may be written without polling LSR again (half the port exits). */
/* The wait for THRE is bounded so that a UART that never drains cannot hang the guest, but the
 * bound is generous: under TCG on a loaded host QEMU's UART waits for its chardev's reader, and a
 * short bound (100000 polls) lost bytes of the report there. */
static int tx_room;
static void uart_putc(char c) {
	if (tx_room == 0) {
		for (int i = 0; i < 20000000 && !(inb(COM1 + 5) & 0x20); i++) cpu_relax();
		tx_room = 16;
	}
	outb(COM1, (u8)c);
	tx_room--;
}

static void emit(const char *s, size_t n) {
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (loglen < sizeof(logbuf)) logbuf[loglen++] = c;
		if (uart_ok > 0) uart_putc(c); /* while undecided (-1), only the log keeps it */
		if (sink) {
			if (linelen < sizeof(linebuf)) linebuf[linelen++] = c;
			if (c == '\n' || linelen == sizeof(linebuf)) { sink(linebuf, linelen); linelen = 0; }
		}
	}
}

void out_init(void) { /* the UART is decided once the command line is known: out_select_uart() */ }

/* Called after start_info: with microvm.uart=0 port 0x3f8 is never touched (a board without
 * legacy devices may not like stray port I/O); otherwise probe, and replay what was printed. */
void out_select_uart(void) {
	u64 want = 2;
	param_u64("microvm.uart", &want);
	if (want == 0) {
		uart_ok = 0;
		return;
	}
	if (uart_present())
		for (size_t i = 0; i < loglen; i++) uart_putc(logbuf[i]);
}
void out_str(const char *s) { emit(s, strlen(s)); }
void outf(const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsfmt(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	emit(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

size_t out_first_line(char *buf, size_t size) {
	size_t n = 0;
	while (n < loglen && n + 1 < size) {
		buf[n] = logbuf[n];
		if (logbuf[n++] == '\n') break;
	}
	return n;
}

void out_attach_sink(sink_fn fn, size_t skip) {
	/* replay in chunks of whole lines */
	size_t start = skip;
	for (size_t i = skip; i < loglen; i++) {
		if (logbuf[i] == '\n' || i + 1 - start == 512) { fn(logbuf + start, i + 1 - start); start = i + 1; }
	}
	if (start < loglen) fn(logbuf + start, loglen - start);
	sink = fn;
}

static void sanitize(char *dst, size_t size, const char *s) {
	size_t n = 0;
	for (; *s && n + 1 < size; s++) dst[n++] = (*s == ' ' || *s == '\n' || *s == '\t') ? '_' : *s;
	if (n == 0 && size > 1) dst[n++] = '-';
	dst[n] = 0;
}

int check(int ok, const char *name, const char *expected, const char *got) {
	char e[160], g[160];
	sanitize(e, sizeof(e), expected);
	sanitize(g, sizeof(g), got);
	outf("%s %s expected=%s got=%s\n", ok ? "ok" : "fail", name, e, g);
	if (ok) report_pass++;
	else report_fail++;
	return ok;
}
int checkf(int ok, const char *name, const char *expected, const char *gotfmt, ...) {
	char g[160];
	va_list ap;
	va_start(ap, gotfmt);
	vsfmt(g, sizeof(g), gotfmt, ap);
	va_end(ap);
	return check(ok, name, expected, g);
}
int check_hex(const char *name, u64 expected, u64 got) {
	char e[24], g[24];
	sfmt(e, sizeof(e), "0x%llx", (unsigned long long)expected);
	sfmt(g, sizeof(g), "0x%llx", (unsigned long long)got);
	return check(expected == got, name, e, g);
}
int check_dec(const char *name, u64 expected, u64 got) {
	char e[24], g[24];
	sfmt(e, sizeof(e), "%llu", (unsigned long long)expected);
	sfmt(g, sizeof(g), "%llu", (unsigned long long)got);
	return check(expected == got, name, e, g);
}
void info(const char *fmt, ...) {
	char buf[400];
	va_list ap;
	va_start(ap, fmt);
	vsfmt(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	outf("info %s\n", buf);
}
void summary(void) {
	outf("summary pass=%u fail=%u result=%s\n", report_pass, report_fail, report_fail ? "FAIL" : "PASS");
}

/* Legacy-mode checks of the 16550A itself. */
void uart_probe_and_check(void) {
	u64 want = 2; /* 2 = auto: check if present */
	param_u64("microvm.uart", &want);
	if (want == 0) {
		info("uart not probed (microvm.uart=0)");
		return;
	}
	int present = uart_present();
	if (want == 1) check(present, "uart.present", "yes", present ? "yes" : "no");
	if (!present) return;
	outb(COM1 + 7, 0x3c);
	check_hex("uart.scratch", 0x3c, inb(COM1 + 7));
	/* 16550A: with FIFOs enabled, IIR bits 7:6 read 11 (a 16550 without working FIFO reads 10). */
	outb(COM1 + 2, 0x01); /* FIFO enable, without clearing what is still being sent */
	check_hex("uart.fifo", 0xc0, inb(COM1 + 2) & 0xc0);
	/* LCR reads back, DLAB switches the divisor latch in and out. */
	outb(COM1 + 3, 0x83);
	outb(COM1 + 0, 0x01);
	outb(COM1 + 1, 0x00);
	u8 dll = inb(COM1 + 0);
	outb(COM1 + 3, 0x03);
	checkf(dll == 0x01 && inb(COM1 + 3) == 0x03, "uart.lcr_dlab", "dll=0x1,lcr=0x3", "dll=0x%x,lcr=0x%x", dll, inb(COM1 + 3));
	u8 lsr = inb(COM1 + 5);
	for (u64 dl = deadline_ms(200); (lsr & 0x60) != 0x60 && !expired(dl);) lsr = inb(COM1 + 5);
	checkf((lsr & 0x60) == 0x60, "uart.lsr", "thre,temt", "0x%x", lsr);
}

/* guest64, legacy mode: the 16550A's interrupt (ISA IRQ 4) through the IOAPIC. Enabling the
 * "transmitter holding register empty" interrupt (IER bit 1) with THR empty raises it at once;
 * reading IIR (source 0x2) clears it. */
static volatile u32 uart_irqs;
static volatile u8 uart_iir;
static void uart_irq(void *ctx) {
	(void)ctx;
	uart_iir = inb(COM1 + 2);
	outb(COM1 + 1, 0x00);
	uart_irqs++;
}
void uart_irq_check(void) {
	if (uart_ok <= 0 || !arch_irq_supported()) return;
	u64 v;
	if (param_u64("microvm.irq", &v) && v == 0) return;
	u32 pin = mp.found && mp.route[4] != 0xff ? mp.route[4] : 4;
	if (arch_irq_attach(pin, uart_irq, 0) < 0) return;
	arch_irq_enable();
	outb(COM1 + 1, 0x02);
	u64 dl = deadline_ms(500);
	while (!uart_irqs && !expired(dl)) cpu_relax();
	arch_irq_disable();
	outb(COM1 + 1, 0x00);
	info("uart irq pin=%u count=%u iir=0x%x", pin, uart_irqs, uart_iir);
	check(uart_irqs != 0, "uart.irq", "interrupt", uart_irqs ? "interrupt" : "none");
	if (uart_irqs) checkf((uart_iir & 0x0f) == 0x02, "uart.irq.iir", "thre(0x2)", "0x%x", uart_iir & 0x0f);
}
