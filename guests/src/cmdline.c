/* Kernel command line: parameters of the form key=value, and virtio_mmio.device= entries parsed
 * like Linux's drivers/virtio/virtio_mmio.c vm_cmdline_set (memparse size, %lli base, %u irq,
 * optional :<id>; irq 0 rejected). */
#include "guest.h"

static char line[4096];

void cmdline_init(const char *c) {
	size_t n = 0;
	if (c)
		while (c[n] && n + 1 < sizeof(line)) { line[n] = c[n]; n++; }
	line[n] = 0;
}
const char *cmdline_raw(void) { return line; }

/* Find `key=` at a token start; returns pointer to the value or 0. */
static const char *find(const char *key, const char *from) {
	size_t kl = strlen(key);
	const char *p = from;
	while (*p) {
		while (*p == ' ') p++;
		if (!*p) break;
		if (!strncmp(p, key, kl) && p[kl] == '=') return p + kl + 1;
		while (*p && *p != ' ') p++;
	}
	return 0;
}

int param_str(const char *key, char *buf, size_t size) {
	const char *v = find(key, line);
	if (!v) return 0;
	size_t n = 0;
	while (v[n] && v[n] != ' ' && n + 1 < size) { buf[n] = v[n]; n++; }
	buf[n] = 0;
	return 1;
}

int parse_u64(const char *s, const char **end, u64 *out) {
	u64 v = 0;
	unsigned base = 10;
	const char *p = s;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) { base = 16; p += 2; }
	else if (p[0] == '0') base = 8;
	const char *digits = p;
	for (;; p++) {
		unsigned d;
		char c = *p;
		if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
		else break;
		if (d >= base) break;
		v = v * base + d;
	}
	if (p == digits && base != 8) return 0;
	*out = v;
	if (end) *end = p;
	return 1;
}

int param_u64(const char *key, u64 *out) {
	const char *v = find(key, line);
	const char *end;
	if (!v || !parse_u64(v, &end, out)) return 0;
	return *end == 0 || *end == ' ';
}

int parse_ipv4(const char *s, u8 ip[4]) {
	for (int i = 0; i < 4; i++) {
		u64 v;
		const char *end;
		if (!parse_u64(s, &end, &v) || v > 255) return 0;
		ip[i] = (u8)v;
		if (i < 3) {
			if (*end != '.') return 0;
			s = end + 1;
		}
	}
	return 1;
}

int cmdline_virtio(struct mmio_dev_param *out, int max) {
	int n = 0;
	const char *p = line;
	const char *v;
	while (n < max && (v = find("virtio_mmio.device", p))) {
		struct mmio_dev_param *d = &out[n];
		const char *e = v;
		size_t k = 0;
		while (v[k] && v[k] != ' ' && k + 1 < sizeof(d->text)) { d->text[k] = v[k]; k++; }
		d->text[k] = 0;
		d->ok = 0;
		u64 size, base, irq, id;
		/* memparse: number with optional K/M/G suffix */
		if (parse_u64(e, &e, &size)) {
			if (*e == 'K' || *e == 'k') { size <<= 10; e++; }
			else if (*e == 'M' || *e == 'm') { size <<= 20; e++; }
			else if (*e == 'G' || *e == 'g') { size <<= 30; e++; }
			if (*e == '@' && parse_u64(e + 1, &e, &base) && *e == ':' && parse_u64(e + 1, &e, &irq)) {
				if (*e == ':') parse_u64(e + 1, &e, &id);
				if ((*e == 0 || *e == ' ') && irq != 0) {
					d->size = size;
					d->base = base;
					d->irq = (u32)irq;
					d->ok = 1;
				}
			}
		}
		n++;
		p = v;
	}
	return n;
}
