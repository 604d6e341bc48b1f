/* hvm_start_info (Xen public arch-x86/hvm/start_info.h, as copied in Linux
 * include/xen/interface/hvm/start_info.h): magic, version, memmap, cmdline, modules. */
#include "guest.h"

#define XEN_HVM_START_MAGIC_VALUE 0x336ec578u
struct boot_info boot;

int mem_is_ram(u64 addr, u64 size) {
	for (u32 i = 0; i < boot.nmem; i++)
		if (boot.mem[i].type == 1 && addr >= boot.mem[i].addr && addr + size <= boot.mem[i].addr + boot.mem[i].size) return 1;
	return 0;
}

static void busy(u64 addr, u64 size) {
	if (boot.nbusy < ARRAY_SIZE(boot.busy)) {
		boot.busy[boot.nbusy].addr = addr;
		boot.busy[boot.nbusy].size = size;
		boot.nbusy++;
	}
}

static const char *memtype(u32 t) {
	static const char *n[] = { "?", "ram", "reserved", "acpi", "nvs", "unusable", "disabled", "pmem" };
	return t < 8 ? n[t] : "?";
}

void check_start_info(u64 pa) {
	char e[64];
	boot.start_info = pa;
	info("start_info addr=0x%llx", (unsigned long long)pa);
	if (!check(pa != 0 && phys_ok(pa, 56), "start_info.addr", "nonzero", pa ? "ok" : "0")) return;
	busy(pa, 56);
	u32 magic = rd32(pa);
	if (!check_hex("start_info.magic", XEN_HVM_START_MAGIC_VALUE, magic)) return;
	u32 version = rd32(pa + 4);
	checkf(version >= 1, "start_info.version", ">=1", "%u", version);
	u32 flags = rd32(pa + 8), nr_modules = rd32(pa + 12);
	u64 modlist = rd64(pa + 16), cmdline = rd64(pa + 24), rsdp = rd64(pa + 32);
	u64 memmap = version >= 1 ? rd64(pa + 40) : 0;
	u32 nmem = version >= 1 ? rd32(pa + 48) : 0;
	info("start_info flags=0x%x nr_modules=%u modlist=0x%llx cmdline=0x%llx rsdp=0x%llx memmap=0x%llx memmap_entries=%u", flags, nr_modules,
	     (unsigned long long)modlist, (unsigned long long)cmdline, (unsigned long long)rsdp, (unsigned long long)memmap, nmem);
	boot.start_info_ok = 1;
	/* parameters are needed by the checks below */
	if (cmdline && phys_ok(cmdline, 4096)) cmdline_init(phys(cmdline));

	/* memory map: present, sorted by address, no overlaps, known types, reserved fields 0 */
	int mmok = memmap != 0 && nmem > 0 && nmem <= 128;
	if (mmok) check(1, "start_info.memmap", "entries=1..128", "entries=1..128");
	else checkf(0, "start_info.memmap", "entries=1..128", "entries=%u,addr=0x%llx", nmem, (unsigned long long)memmap);
	if (nmem > 128) nmem = 128;
	if (memmap && nmem && phys_ok(memmap, (u64)nmem * 24)) {
		busy(memmap, (u64)nmem * 24);
		int sorted = 1, types = 1, overlap = 0;
		u64 prev_end = 0;
		u64 ram_total = 0;
		for (u32 i = 0; i < nmem && i < 128; i++) { /* more than 128 already failed above */
			u64 ea = memmap + (u64)i * 24;
			u64 a = rd64(ea), sz = rd64(ea + 8);
			u32 t = rd32(ea + 16), r = rd32(ea + 20);
			info("memmap %u addr=0x%llx size=0x%llx type=%u(%s)", i, (unsigned long long)a, (unsigned long long)sz, t, memtype(t));
			/* Linux's e820 sanitizer drops empty entries; so do we */
			if (sz == 0) continue;
			if (a < prev_end) sorted = 0;
			prev_end = a + sz;
			if (t < 1 || t > 7 || r != 0) types = 0;
			if (t == 1) ram_total += sz;
			for (u32 j = 0; j < boot.nmem; j++)
				if (a < boot.mem[j].addr + boot.mem[j].size && boot.mem[j].addr < a + sz) overlap = 1;
			if (boot.nmem < ARRAY_SIZE(boot.mem)) {
				boot.mem[boot.nmem].addr = a;
				boot.mem[boot.nmem].size = sz;
				boot.mem[boot.nmem].type = t;
				boot.nmem++;
			}
		}
		/* Linux sorts the map itself (e820__update_table), and QEMU's qboot hands over an unsorted
		 * one; strict ordering is checked only when asked for (microvm.memmap_sorted=1). */
		u64 want_sorted = 0;
		param_u64("microvm.memmap_sorted", &want_sorted);
		if (want_sorted) check(sorted, "start_info.memmap.sorted", "ascending", sorted ? "ascending" : "unsorted");
		else info("memmap order=%s", sorted ? "ascending" : "unsorted");
		check(!overlap, "start_info.memmap.overlap", "none", overlap ? "overlapping" : "none");
		check(types, "start_info.memmap.entries", "type=1..7,reserved=0", types ? "type=1..7,reserved=0" : "bad-entry");
		u64 img = (u64)(uptr)_image_start, img_end = (u64)(uptr)_image_end;
		checkf(mem_is_ram(img, img_end - img), "start_info.memmap.image", "ram", "%s", mem_is_ram(img, img_end - img) ? "ram" : "not-ram");
		/* Legacy low RAM: the first 640 KiB less the 1 KiB EBDA/MPTable page. */
		checkf(mem_is_ram(0, 0x9fc00), "start_info.memmap.low", "ram:[0x0,0x9fc00)", "%s", mem_is_ram(0, 0x9fc00) ? "ram:[0x0,0x9fc00)" : "not-ram");
		u64 mib;
		/* RAM total, rounded up to MiB, equals the configured size (holes below 1 MiB allowed). */
		u32 total_mib = (u32)((ram_total + 0xfffff) >> 20);
		if (param_u64("microvm.mem_mib", &mib)) {
			sfmt(e, sizeof(e), "%lluMiB", (unsigned long long)mib);
			checkf(total_mib == mib, "start_info.memmap.ram_total", e, "%uMiB", total_mib);
		} else {
			info("memmap ram_total=%uMiB", total_mib);
		}
	}

	/* command line: present, NUL-terminated within 4 KiB, printable ASCII */
	if (check(cmdline != 0 && phys_ok(cmdline, 1), "start_info.cmdline", "present", cmdline ? "present" : "0")) {
		u32 n = 0;
		int ascii = 1;
		while (n < 4096 && rd8(cmdline + n)) {
			u8 c = rd8(cmdline + n);
			if (c < 0x20 || c > 0x7e) ascii = 0;
			n++;
		}
		checkf(n < 4096 && ascii, "start_info.cmdline.format", "nul-terminated,ascii", "%s,%s", n < 4096 ? "nul-terminated" : "unterminated",
		       ascii ? "ascii" : "non-ascii");
		busy(cmdline, n + 1);
		info("cmdline addr=0x%llx in_ram=%u", (unsigned long long)cmdline, mem_is_ram(cmdline, n + 1));
		boot.cmdline_pa = cmdline;
		cmdline_init(phys(cmdline));
	}

	/* modules: the first is the initrd (Linux: "The first module is always ramdisk") */
	u64 want_sum, want_size;
	int has_sum = param_u64("microvm.initrd_sum", &want_sum);
	int has_size = param_u64("microvm.initrd_size", &want_size);
	if (nr_modules && modlist && phys_ok(modlist, (u64)nr_modules * 32)) {
		busy(modlist, (u64)nr_modules * 32);
		for (u32 i = 0; i < nr_modules && i < 8; i++) {
			u64 m = modlist + (u64)i * 32;
			info("module %u paddr=0x%llx size=0x%llx cmdline=0x%llx", i, (unsigned long long)rd64(m), (unsigned long long)rd64(m + 8),
			     (unsigned long long)rd64(m + 16));
			busy(rd64(m), rd64(m + 8));
		}
	}
	if (has_sum || has_size) {
		if (!checkf(nr_modules >= 1 && modlist != 0, "start_info.initrd", "nr_modules>=1", "nr_modules=%u", nr_modules)) return;
		u64 a = rd64(modlist), s = rd64(modlist + 8);
		if (has_size) check_dec("start_info.initrd.size", want_size, s);
		int inram = mem_is_ram(a, s) && phys_ok(a, s);
		checkf(inram, "start_info.initrd.ram", "ram", "%s", inram ? "ram" : "not-ram");
		if (has_sum && inram) check_hex("start_info.initrd.sum", want_sum, fnv1a(FNV1A_INIT, phys(a), (size_t)s));
	}
}
