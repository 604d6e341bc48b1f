/* Freestanding helpers: memory/string functions (gcc may emit calls to mem*), a tiny formatter,
 * FNV-1a, and TSC-based timeouts. No 64-bit division: guest32 has no libgcc. */
#include "guest.h"

void *memset(void *d, int c, size_t n) {
	u8 *p = d;
	while (n--) *p++ = (u8)c;
	return d;
}
void *memcpy(void *d, const void *s, size_t n) {
	u8 *a = d;
	const u8 *b = s;
	while (n--) *a++ = *b++;
	return d;
}
int memcmp(const void *a, const void *b, size_t n) {
	const u8 *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y) return *x < *y ? -1 : 1;
	return 0;
}
size_t strlen(const char *s) {
	size_t n = 0;
	while (s[n]) n++;
	return n;
}
int strncmp(const char *a, const char *b, size_t n) {
	for (; n; n--, a++, b++) {
		if (*a != *b) return (u8)*a < (u8)*b ? -1 : 1;
		if (!*a) return 0;
	}
	return 0;
}

u32 fnv1a(u32 h, const void *p, size_t n) {
	const u8 *b = p;
	while (n--) {
		h ^= *b++;
		h *= 16777619u;
	}
	return h;
}

/* ---- formatter: %s %c %d %u %x %lx %llx %llu (l = long, ll = 64-bit), width/zero-pad ------ */
struct fbuf { char *buf; size_t size, len; };
static void fput(struct fbuf *f, char c) {
	if (f->len + 1 < f->size) f->buf[f->len] = c;
	f->len++;
}
static void fnum(struct fbuf *f, u64 v, int base, int width, int zero) {
	char tmp[24];
	int n = 0;
	if (base == 16) {
		do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
	} else {
		/* decimal without 64-bit division: split into base-1e9 chunks via subtraction */
		u32 parts[3];
		int np = 0;
		while (v >= 1000000000ull && np < 2) {
			u64 q = 0, r = v;
			/* long division by 1e9 using shifts */
			for (int i = 63; i >= 0; i--) {
				if ((r >> i) >= 1000000000ull) { r -= 1000000000ull << i; q |= 1ull << i; }
			}
			parts[np++] = (u32)r;
			v = q;
		}
		u32 top = (u32)v;
		for (int p = 0; p < np; p++) {
			u32 x = parts[p];
			for (int k = 0; k < 9; k++) { tmp[n++] = (char)('0' + x % 10); x /= 10; }
		}
		do { tmp[n++] = (char)('0' + top % 10); top /= 10; } while (top);
	}
	while (n < width) tmp[n++] = zero ? '0' : ' ';
	while (n) fput(f, tmp[--n]);
}
int vsfmt(char *buf, size_t size, const char *fmt, va_list ap) {
	struct fbuf f = { buf, size, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') { fput(&f, *fmt); continue; }
		fmt++;
		int zero = 0, width = 0, lng = 0;
		if (*fmt == '0') { zero = 1; fmt++; }
		while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') { lng++; fmt++; }
		if (*fmt == 'z') { lng = sizeof(size_t) == 8 ? 2 : 0; fmt++; }
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s) s = "(null)";
			size_t l = strlen(s);
			for (size_t i = l; (int)i < width; i++) fput(&f, ' ');
			while (*s) fput(&f, *s++);
			break;
		}
		case 'c': fput(&f, (char)va_arg(ap, int)); break;
		case 'd': {
			long long v = lng >= 2 ? va_arg(ap, long long) : lng == 1 ? va_arg(ap, long) : va_arg(ap, int);
			if (v < 0) { fput(&f, '-'); v = -v; }
			fnum(&f, (u64)v, 10, width, zero);
			break;
		}
		case 'u': case 'x': {
			u64 v = lng >= 2 ? va_arg(ap, unsigned long long) : lng == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			fnum(&f, v, *fmt == 'x' ? 16 : 10, width, zero);
			break;
		}
		case '%': fput(&f, '%'); break;
		default: fput(&f, '?'); break;
		}
	}
	if (f.size) f.buf[f.len < f.size ? f.len : f.size - 1] = 0;
	return (int)f.len;
}
int sfmt(char *buf, size_t size, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	int n = vsfmt(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- time -------------------------------------------------------------------------------- */
static u32 tsc_khz;
static void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d) {
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}
u32 get_tsc_khz(void) {
	if (tsc_khz) return tsc_khz;
	u32 a, b, c, d, max;
	cpuid(0, &max, &b, &c, &d);
	tsc_khz = 2000000; /* fallback: 2 GHz */
	if (max >= 0x15) {
		cpuid(0x15, &a, &b, &c, &d);
		if (a && b && c) { tsc_khz = (c / 1000) * b / a; return tsc_khz; }
	}
	if (max >= 0x16) {
		cpuid(0x16, &a, &b, &c, &d);
		if (a & 0xffff) tsc_khz = (a & 0xffff) * 1000;
	}
	return tsc_khz;
}
u64 deadline_ms(u32 ms) { return rdtsc() + (u64)get_tsc_khz() * ms; }
int expired(u64 deadline) { return (int64_t)(rdtsc() - deadline) >= 0; }
void delay_us(u32 us) {
	u64 end = rdtsc() + (u64)(get_tsc_khz() / 1000) * us;
	while ((int64_t)(rdtsc() - end) < 0) cpu_relax();
}
