/* MPTable, found and validated as Linux's arch/x86/kernel/mpparse.c does:
 * smp_scan_config over [0,0x400), [0x9fc00,0xa0000), [0xf0000,0x100000), then the first 1 KiB of
 * the EBDA (segment at 0x40e); a floating pointer needs "_MP_", length 1, a zero 16-byte checksum
 * and specification 1 or 4. smp_check_mpc: "PCMP", zero checksum over `length` bytes, spec 1 or
 * 4, non-zero LAPIC. smp_read_mpc walks entries by length (oemcount is ignored) and stops at an
 * unknown type. Entry layouts: Intel MP spec 1.4 ch. 4 / Linux asm/mpspec_def.h. */
#include "guest.h"

struct mp_info mp;

static u8 sum8(u64 pa, u32 len) {
	u8 s = 0;
	for (u32 i = 0; i < len; i++) s = (u8)(s + rd8(pa + i));
	return s;
}

/* 0 = nothing, 1 = valid floating pointer found (mp.fp set) */
static int scan(u64 base, u32 len, u64 *cand) {
	for (u64 p = base; p + 16 <= base + len; p += 16) {
		if (rd32(p) != 0x5f504d5fu) continue; /* "_MP_" */
		if (!*cand) *cand = p;
		if (rd8(p + 8) == 1 && sum8(p, 16) == 0 && (rd8(p + 9) == 1 || rd8(p + 9) == 4)) {
			mp.fp = p;
			return 1;
		}
	}
	return 0;
}

static void str_field(char *out, u64 pa, u32 n) {
	for (u32 i = 0; i < n; i++) {
		u8 c = rd8(pa + i);
		out[i] = (c >= 0x21 && c <= 0x7e) ? (char)c : '_';
	}
	out[n] = 0;
}

void check_mptable(void) {
	u64 cand = 0;
	memset(mp.route, 0xff, sizeof(mp.route));
	int found = scan(0, 0x400, &cand) || scan(0x9fc00, 0x400, &cand) || scan(0xf0000, 0x10000, &cand);
	if (!found) {
		u64 ebda = (u64)rd16(0x40e) << 4;
		if (ebda) found = scan(ebda, 0x400, &cand);
	}
	if (!found) {
		if (cand)
			checkf(0, "mptable.fp", "found", "bad_candidate@0x%llx:len=%u,sum=0x%x,spec=%u", (unsigned long long)cand, rd8(cand + 8),
			       sum8(cand, 16), rd8(cand + 9));
		else
			check(0, "mptable.fp", "found", "none");
		return;
	}
	u64 fp = mp.fp;
	checkf(1, "mptable.fp", "found", "found");
	info("mptable.fp addr=0x%llx physptr=0x%x spec=%u feature1=%u feature2=0x%x", (unsigned long long)fp, rd32(fp + 4), rd8(fp + 9),
	     rd8(fp + 11), rd8(fp + 12));
	check_hex("mptable.fp.checksum", 0, sum8(fp, 16));
	if (!check_dec("mptable.fp.feature1", 0, rd8(fp + 11))) return; /* default configs carry no table */
	u64 t = rd32(fp + 4);
	mp.table = t;
	int tok = t != 0 && t + 44 <= 0x100000;
	if (tok) check(1, "mptable.physptr", "nonzero,below_1MiB", "nonzero,below_1MiB");
	else {
		checkf(0, "mptable.physptr", "nonzero,below_1MiB", "0x%llx", (unsigned long long)t);
		return;
	}
	char sig[5], oem[9], prod[13];
	str_field(sig, t, 4);
	if (!check(memcmp(sig, "PCMP", 4) == 0, "mptable.signature", "PCMP", sig)) return;
	u32 len = rd16(t + 4);
	checkf(t + len <= 0x100000, "mptable.below_1mib", "end<=0x100000", "%s", t + len <= 0x100000 ? "end<=0x100000" : "end>0x100000");
	if (t + len > 0x100000) return;
	check_hex("mptable.checksum", 0, sum8(t, len));
	u8 spec = rd8(t + 6);
	checkf(spec == 1 || spec == 4, "mptable.spec", "1|4", "%u", spec);
	mp.lapic = rd32(t + 36);
	check_hex("mptable.lapic", LAPIC_BASE, mp.lapic);
	str_field(oem, t + 8, 8);
	str_field(prod, t + 16, 12);
	info("mptable.table addr=0x%llx length=%u oem=%s product=%s oemcount=%u ext_length=%u", (unsigned long long)t, len, oem, prod,
	     rd16(t + 34), rd16(t + 40));

	/* walk by length */
	u64 p = t + 44, end = t + len;
	u32 entries = 0, ncpu_entries = 0;
	int bad = 0;
	u8 isa_bus[256];
	memset(isa_bus, 0, sizeof(isa_bus));
	mp.bsp_count = 0;
	while (p < end) {
		u8 type = rd8(p);
		u32 sz = type == 0 ? 20 : (type <= 4 ? 8 : 0);
		if (!sz || p + sz > end) { bad = 1; break; }
		entries++;
		switch (type) {
		case 0: {
			u8 id = rd8(p + 1), ver = rd8(p + 2), fl = rd8(p + 3);
			info("mptable.cpu apic=%u ver=0x%x flags=0x%x signature=0x%x features=0x%x", id, ver, fl, rd32(p + 4), rd32(p + 8));
			ncpu_entries++;
			if ((fl & 1) && mp.ncpus < 256) mp.cpu_apic[mp.ncpus++] = id;
			if (fl & 2) { mp.bsp_apic = id; mp.bsp_count++; }
			break;
		}
		case 1: {
			char bt[7];
			str_field(bt, p + 2, 6);
			info("mptable.bus id=%u type=%s", rd8(p + 1), bt);
			if (!memcmp(bt, "ISA", 3)) isa_bus[rd8(p + 1)] = 1;
			break;
		}
		case 2:
			info("mptable.ioapic id=%u ver=0x%x flags=0x%x addr=0x%x", rd8(p + 1), rd8(p + 2), rd8(p + 3), rd32(p + 4));
			if (!mp.ioapic_ok && (rd8(p + 3) & 1)) {
				mp.ioapic_ok = 1;
				mp.ioapic_id = rd8(p + 1);
				mp.ioapic_addr = rd32(p + 4);
			}
			break;
		case 3: {
			u8 it = rd8(p + 1), bus = rd8(p + 4), irq = rd8(p + 5), dst = rd8(p + 6), pin = rd8(p + 7);
			info("mptable.intsrc type=%u flags=0x%x bus=%u irq=%u apic=%u pin=%u", it, rd16(p + 2), bus, irq, dst, pin);
			if (it == 0 && isa_bus[bus] && irq < sizeof(mp.route)) mp.route[irq] = pin;
			break;
		}
		case 4:
			info("mptable.lintsrc type=%u flags=0x%x bus=%u irq=%u apic=0x%x lint=%u", rd8(p + 1), rd16(p + 2), rd8(p + 4), rd8(p + 5),
			     rd8(p + 6), rd8(p + 7));
			break;
		}
		p += sz;
	}
	checkf(!bad && p == end, "mptable.walk", "by_length_to_end", "%s", bad ? "unknown_type_or_overrun" : "by_length_to_end");
	info("mptable.entries walked=%u oemcount=%u", entries, rd16(t + 34));
	checkf(mp.ncpus >= 1, "mptable.processors", ">=1", "%u", mp.ncpus);
	u64 want;
	if (param_u64("microvm.expect_cpus", &want)) check_dec("mptable.cpus", want, mp.ncpus);
	u32 me = lapic_id();
	checkf(mp.bsp_count == 1 && mp.bsp_apic == me, "mptable.bsp", "one_bsp=apic", "count=%d,apic=%u,self=%u", mp.bsp_count, mp.bsp_apic, me);
	checkf(mp.ioapic_ok && mp.ioapic_addr == IOAPIC_BASE, "mptable.ioapic", "usable@0xfec00000", "%s@0x%x", mp.ioapic_ok ? "usable" : "none",
	       mp.ioapic_addr);
	if (mp.ioapic_ok) info("ioapic id_register=%u version=0x%x", (ioapic_read(0) >> 24) & 0xf, ioapic_read(1));
	mp.found = 1;
}

/* microvm.dump=1: hex dump of the scan window(s) holding the MPTable: [0x9fc00,0xa0000) and/or
 * [0xf0000,0x100000) (both when no table was found); microvm.dump=all: both windows. Lines of
 * 16 zero bytes are left out. Meant for taking golden vectors from a running VMM. */
static void dump_range(u64 a, u64 e) {
	for (; a < e; a += 16) {
		int zero = 1;
		for (int i = 0; i < 16; i++) zero &= rd8(a + (u64)i) == 0;
		if (zero) continue;
		char line[80];
		int n = sfmt(line, sizeof(line), "dump %08llx", (unsigned long long)a);
		for (int i = 0; i < 16; i++) n += sfmt(line + n, sizeof(line) - (size_t)n, " %02x", rd8(a + (u64)i));
		outf("%s\n", line);
	}
}
static int in_window(u64 a, u64 lo, u64 hi) { return a >= lo && a < hi; }
void dump_memory(int all) {
	int ebda = all || !mp.fp || in_window(mp.fp, 0x9fc00, 0xa0000) || in_window(mp.table, 0x9fc00, 0xa0000);
	int fseg = all || !mp.fp || in_window(mp.fp, 0xf0000, 0x100000) || in_window(mp.table, 0xf0000, 0x100000);
	info("dump windows=%s%s", ebda ? "[0x9fc00,0xa0000)" : "", fseg ? "[0xf0000,0x100000)" : "");
	if (ebda) dump_range(0x9fc00, 0xa0000);
	if (fseg) dump_range(0xf0000, 0x100000);
}
