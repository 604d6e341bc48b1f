/* virtio-mmio drivers, written from the virtio spec (v1.2 §4.2 "Virtio Over MMIO", §2.7 split
 * virtqueues, §5.1 net, §5.2 block, §5.3 console, §5.4 entropy) and behaving like Linux's
 * drivers/virtio/virtio_mmio.c where the spec leaves a choice:
 *  - version 1 (legacy): GuestPageSize = 4096 before the queues, QueueAlign = 4096, QueuePFN,
 *    no FEATURES_OK step; config read byte by byte;
 *  - version 2: VERSION_1 must be offered, FEATURES_OK read back, Queue{Desc,Driver,Device}
 *    Low/High, QueueReady; 32-bit config reads.
 * Completion is by interrupt (guest64: IOAPIC -> IDT handler, IRETQ) or by polling the used ring. */
#include "guest.h"

enum {
	R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00c,
	R_DEV_FEATURES = 0x010, R_DEV_FEATURES_SEL = 0x014, R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024,
	R_GUEST_PAGE_SIZE = 0x028, R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038,
	R_QUEUE_ALIGN = 0x03c, R_QUEUE_PFN = 0x040, R_QUEUE_READY = 0x044, R_QUEUE_NOTIFY = 0x050,
	R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
	R_QUEUE_DESC_LO = 0x080, R_QUEUE_DESC_HI = 0x084, R_QUEUE_AVAIL_LO = 0x090, R_QUEUE_AVAIL_HI = 0x094,
	R_QUEUE_USED_LO = 0x0a0, R_QUEUE_USED_HI = 0x0a4, R_CONFIG_GEN = 0x0fc, R_CONFIG = 0x100,
};
enum { S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8 };
#define F_VERSION_1 (1ull << 32)
#define QSIZE 16
#define MAXDEV 8

struct vq {
	u16 index, num, avail_idx, last_used;
	u64 desc, avail, used;
};
struct vdev {
	u64 base;
	u32 gsi, version, devid;
	char name[24];
	u64 dev_features, acked;
	struct vq q[2];
	u64 mem; /* 32 KiB: queue 0 at +0, queue 1 at +0x2000, buffers from +0x4000 */
	int use_irq;
	volatile u32 irq_count, isr_seen;
};

static u8 pool[MAXDEV][0x8000] __attribute__((aligned(4096)));
static struct vdev devs[MAXDEV];
static int want_version;

static u32 vr(struct vdev *d, u32 off) { return rd32(d->base + off); }
static void vw(struct vdev *d, u32 off, u32 v) { wr32(d->base + off, v); }
static u8 cfg8(struct vdev *d, u32 off) {
	if (d->version == 1) return rd8(d->base + R_CONFIG + off);
	u32 w = rd32(d->base + R_CONFIG + (off & ~3u));
	return (u8)(w >> (8 * (off & 3)));
}
static u32 cfg32(struct vdev *d, u32 off) {
	if (d->version == 1) return cfg8(d, off) | (u32)cfg8(d, off + 1) << 8 | (u32)cfg8(d, off + 2) << 16 | (u32)cfg8(d, off + 3) << 24;
	return rd32(d->base + R_CONFIG + off);
}

/* Version 2: a multi-field config read is retried until ConfigGeneration is the same before
 * and after it (virtio 1.2 §4.2.2.2; Linux's vm_generation loop). Version 1 has no generation. */
static u32 cfg_gen(struct vdev *d) { return d->version == 2 ? vr(d, R_CONFIG_GEN) : 0; }
#define CONFIG_STABLE(d, stmt)                                                        \
	do {                                                                          \
		for (int tries_ = 0; tries_ < 10; tries_++) {                         \
			u32 g_ = cfg_gen(d);                                          \
			stmt;                                                         \
			if (g_ == cfg_gen(d)) break;                                  \
		}                                                                     \
	} while (0)

static char cname[64];
static const char *cn(struct vdev *d, const char *what) {
	sfmt(cname, sizeof(cname), "virtio.%s.%s", d->name, what);
	return cname;
}

/* ---- interrupt ----------------------------------------------------------------------------- */
static void vdev_irq(void *ctx) {
	struct vdev *d = ctx;
	u32 s = vr(d, R_INT_STATUS);
	vw(d, R_INT_ACK, s);
	d->isr_seen |= s;
	d->irq_count++;
}

/* ---- queues -------------------------------------------------------------------------------- */
static int setup_queue(struct vdev *d, u16 index, char *msg, size_t msz) {
	struct vq *q = &d->q[index];
	u64 base = d->mem + (u64)index * 0x2000;
	vw(d, R_QUEUE_SEL, index);
	u32 busy = d->version == 1 ? vr(d, R_QUEUE_PFN) : vr(d, R_QUEUE_READY);
	u32 max = vr(d, R_QUEUE_NUM_MAX);
	if (busy || max == 0) {
		sfmt(msg, msz, "q%u:%s=%u,max=%u", index, d->version == 1 ? "pfn" : "ready", busy, max);
		return 0;
	}
	u16 num = QSIZE;
	while (num > max) num >>= 1;
	q->index = index;
	q->num = num;
	q->avail_idx = q->last_used = 0;
	q->desc = base;
	q->avail = base + 16u * num;
	q->used = base + 0x1000; /* legacy layout: used ring aligned to QueueAlign = 4096 */
	vw(d, R_QUEUE_NUM, num);
	if (d->version == 1) {
		vw(d, R_QUEUE_ALIGN, 0x1000);
		vw(d, R_QUEUE_PFN, (u32)(base >> 12));
	} else {
		vw(d, R_QUEUE_DESC_LO, (u32)q->desc);
		vw(d, R_QUEUE_DESC_HI, (u32)(q->desc >> 32));
		vw(d, R_QUEUE_AVAIL_LO, (u32)q->avail);
		vw(d, R_QUEUE_AVAIL_HI, (u32)(q->avail >> 32));
		vw(d, R_QUEUE_USED_LO, (u32)q->used);
		vw(d, R_QUEUE_USED_HI, (u32)(q->used >> 32));
		vw(d, R_QUEUE_READY, 1);
		if (vr(d, R_QUEUE_READY) != 1) {
			sfmt(msg, msz, "q%u:ready_readback=%u", index, vr(d, R_QUEUE_READY));
			return 0;
		}
	}
	sfmt(msg, msz, "q%u:max=%u,num=%u", index, max, num);
	return 1;
}

struct buf { u64 addr; u32 len; int write; };

/* Put a chain at descriptor `head` (descriptors head..head+n-1) and make it available. */
static void submit(struct vdev *d, struct vq *q, u16 head, const struct buf *b, int n, int kick) {
	for (int i = 0; i < n; i++) {
		u64 e = q->desc + 16u * (u16)(head + i);
		wr32(e, (u32)b[i].addr);
		wr32(e + 4, (u32)(b[i].addr >> 32));
		wr32(e + 8, b[i].len);
		wr16(e + 12, (u16)((i + 1 < n ? 1 : 0) | (b[i].write ? 2 : 0)));
		wr16(e + 14, (u16)(head + i + 1));
	}
	wr16(q->avail + 4 + 2u * (q->avail_idx % q->num), head);
	barrier();
	mb(); /* descriptors and ring entry before the index */
	q->avail_idx++;
	wr16(q->avail + 2, q->avail_idx);
	mb(); /* index before the notification */
	if (kick) vw(d, R_QUEUE_NOTIFY, q->index);
}

/* Wait for the next used entry; returns 1 and its id/len, 0 on timeout. In interrupt mode the
 * interrupt must also have arrived (irq_before is the count sampled before the kick). */
static int wait_used(struct vdev *d, struct vq *q, u32 ms, u32 irq_before, int need_irq, u32 *id, u32 *len) {
	u64 dl = deadline_ms(ms);
	for (;;) {
		barrier();
		int have = rd16(q->used + 2) != q->last_used;
		if (have && (!need_irq || d->irq_count != irq_before)) break;
		if (expired(dl)) return 0;
		cpu_relax();
	}
	u64 e = q->used + 4 + 8u * (q->last_used % q->num);
	if (id) *id = rd32(e);
	if (len) *len = rd32(e + 4);
	q->last_used++;
	return 1;
}

/* After the first completion: report how it was signalled. */
static void report_completion(struct vdev *d, int got, u32 irq_before) {
	if (!got) return;
	if (d->use_irq) {
		info("virtio.%s irq gsi=%u count=%u isr=0x%x", d->name, d->gsi, d->irq_count, d->isr_seen);
		check(d->irq_count != irq_before, cn(d, "irq"), "interrupt", d->irq_count != irq_before ? "interrupt" : "none");
	} else {
		/* The device publishes the used entry first and raises the interrupt (ISR bit 0) after it
		 * (virtio 1.2: used buffer notifications follow the used ring update; InterruptStatus bit 0
		 * says one was sent): a poller that sees the entry can be a moment early, so
		 * it waits (bounded) for the bit rather than reading it once. */
		u64 dl = deadline_ms(1000);
		u32 s = vr(d, R_INT_STATUS);
		while (!(s & 1) && !expired(dl)) {
			cpu_relax();
			s = vr(d, R_INT_STATUS);
		}
		checkf((s & 1) == 1, cn(d, "isr"), "0x1", "0x%x", s);
		vw(d, R_INT_ACK, s);
	}
}
static void ack_poll(struct vdev *d) {
	if (!d->use_irq) {
		u32 s = vr(d, R_INT_STATUS);
		if (s) vw(d, R_INT_ACK, s);
	}
}

/* ---- the spec's initialization sequence (§3.1.1, §4.2.3.1) --------------------------------- */
static int init_device(struct vdev *d, u64 wanted, int nq) {
	char msg[128], got[160];
	vw(d, R_STATUS, 0);
	if (!check_hex(cn(d, "reset"), 0, vr(d, R_STATUS))) return 0;
	vw(d, R_STATUS, S_ACK);
	vw(d, R_STATUS, S_ACK | S_DRIVER);
	if (d->version == 1) vw(d, R_GUEST_PAGE_SIZE, 4096);
	vw(d, R_DEV_FEATURES_SEL, 1);
	u64 f = (u64)vr(d, R_DEV_FEATURES) << 32;
	vw(d, R_DEV_FEATURES_SEL, 0);
	f |= vr(d, R_DEV_FEATURES);
	d->dev_features = f;
	if (d->version == 2) {
		if (!checkf((f & F_VERSION_1) != 0, cn(d, "version_1"), "offered", "%s", (f & F_VERSION_1) ? "offered" : "not_offered")) {
			vw(d, R_STATUS, 0x80); /* FAILED */
			return 0;
		}
		wanted |= F_VERSION_1;
	}
	d->acked = f & wanted;
	vw(d, R_DRV_FEATURES_SEL, 1);
	vw(d, R_DRV_FEATURES, (u32)(d->acked >> 32));
	vw(d, R_DRV_FEATURES_SEL, 0);
	vw(d, R_DRV_FEATURES, (u32)d->acked);
	info("virtio.%s features device=0x%llx acked=0x%llx", d->name, (unsigned long long)f, (unsigned long long)d->acked);
	u32 expect_status = S_ACK | S_DRIVER;
	if (d->version == 2) {
		vw(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
		u32 s = vr(d, R_STATUS);
		if (!checkf((s & S_FEATURES_OK) != 0, cn(d, "features_ok"), "set", "status=0x%x", s)) return 0;
		expect_status |= S_FEATURES_OK;
	}
	int qok = 1;
	size_t gl = 0;
	got[0] = 0;
	for (int i = 0; i < nq; i++) {
		int r = setup_queue(d, (u16)i, msg, sizeof(msg));
		qok &= r;
		gl += (size_t)sfmt(got + gl, sizeof(got) - gl, "%s%s", i ? "," : "", msg);
	}
	info("virtio.%s queues %s", d->name, got);
	if (!check(qok, cn(d, "queues"), nq == 1 ? "q0:ready" : "q0..1:ready", qok ? (nq == 1 ? "q0:ready" : "q0..1:ready") : got)) return 0;
	vw(d, R_STATUS, expect_status | S_DRIVER_OK);
	check_hex(cn(d, "status"), expect_status | S_DRIVER_OK, vr(d, R_STATUS));
	return 1;
}

/* ---- block (§5.2) ------------------------------------------------------------------------- */
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_F_RO (1ull << 5)
#define BLK_F_FLUSH (1ull << 9)

static int blk_req(struct vdev *d, u32 type, u64 sector, u64 data, u32 len, int first, u8 *status) {
	u64 hdr = d->mem + 0x4000, st = d->mem + 0x4010;
	wr32(hdr, type);
	wr32(hdr + 4, 0);
	wr32(hdr + 8, (u32)sector);
	wr32(hdr + 12, (u32)(sector >> 32));
	wr8(st, 0xff);
	struct buf b[3];
	int n = 0;
	b[n++] = (struct buf){ hdr, 16, 0 };
	if (len) b[n++] = (struct buf){ data, len, type == BLK_T_IN };
	b[n++] = (struct buf){ st, 1, 1 };
	u32 before = d->irq_count;
	submit(d, &d->q[0], 0, b, n, 1);
	u32 ulen;
	int got = wait_used(d, &d->q[0], 3000, before, d->use_irq, 0, &ulen);
	if (first) report_completion(d, got, before);
	ack_poll(d);
	*status = rd8(st);
	return got;
}

static u8 blk_pattern(u64 sector, u32 i) { return (u8)(i * 7u + (u32)sector + 0x5au); }

/* Throughput mode (microvm.blk_bench_kib=<KiB>, blk0 only): reads that many KiB from sector 0 in
 * 32 KiB requests, then writes them back, one request in flight, and reports the TSC ticks of
 * each pass. Used by the benchmarks to compare VMMs on the same guest. */
static u8 bench_buf[32768] __attribute__((aligned(4096)));

static void blk_bench(struct vdev *d, u64 kib) {
	u64 data = (u64)(uintptr_t)bench_buf, cap = 0;
	CONFIG_STABLE(d, cap = (u64)cfg32(d, 0) | (u64)cfg32(d, 4) << 32);
	if (cap * 512 < kib * 1024) {
		checkf(0, cn(d, "bench"), "capacity>=request", "capacity=%llu_sectors", (unsigned long long)cap);
		return;
	}
	u32 khz = get_tsc_khz();
	u8 st;
	int ok = 1;
	u64 t0 = rdtsc();
	for (u64 off = 0; off < kib * 1024 && ok; off += sizeof bench_buf) ok = blk_req(d, BLK_T_IN, off / 512, data, sizeof bench_buf, 0, &st) && st == 0;
	u64 t1 = rdtsc();
	for (u64 off = 0; off < kib * 1024 && ok && !(d->dev_features & BLK_F_RO); off += sizeof bench_buf)
		ok = blk_req(d, BLK_T_OUT, off / 512, data, sizeof bench_buf, 0, &st) && st == 0;
	u64 t2 = rdtsc();
	check(ok, cn(d, "bench"), "status=0", ok ? "status=0" : "error");
	/* raw TSC ticks (no 64-bit division in the 32-bit guest): the host divides by tsc_khz */
	info("virtio.%s bench kib=%llu tsc_khz=%u read_ticks=%llu write_ticks=%llu", d->name, (unsigned long long)kib, khz,
	     (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1));
}

static void blk_run(struct vdev *d, int index) {
	if (!init_device(d, BLK_F_FLUSH | BLK_F_RO, 1)) return;
	u64 cap = 0;
	CONFIG_STABLE(d, cap = (u64)cfg32(d, 0) | (u64)cfg32(d, 4) << 32);
	info("virtio.%s capacity=%llu sectors ro=%u flush=%u", d->name, (unsigned long long)cap, (d->dev_features & BLK_F_RO) != 0,
	     (d->dev_features & BLK_F_FLUSH) != 0);
	u64 want;
	if (index == 0 && param_u64("microvm.blk_sectors", &want)) check_dec(cn(d, "capacity"), want, cap);
	u64 data = d->mem + 0x4200, back = d->mem + 0x4600;
	u8 st;
	/* read sectors 0 and 1 */
	memset(phys(data), 0xcc, 1024);
	int got = blk_req(d, BLK_T_IN, 0, data, 1024, 1, &st);
	if (!checkf(got && st == 0, cn(d, "read"), "status=0", "%s", got ? (st == 0 ? "status=0" : "status!=0") : "timeout")) return;
	u32 sum = fnv1a(FNV1A_INIT, phys(data), 1024);
	if (index == 0 && param_u64("microvm.blk_sum", &want)) check_hex(cn(d, "read.sum"), want, sum);
	else info("virtio.%s read.sum=0x%x", d->name, sum);
	/* write one sector (opt-in), read it back, flush */
	if (index == 0 && param_u64("microvm.blk_write", &want)) {
		if (d->dev_features & BLK_F_RO) {
			check(0, cn(d, "write"), "status=0", "read-only");
			return;
		}
		u8 *p = phys(data);
		for (u32 i = 0; i < 512; i++) p[i] = blk_pattern(want, i);
		got = blk_req(d, BLK_T_OUT, want, data, 512, 0, &st);
		checkf(got && st == 0, cn(d, "write"), "status=0", "%s", got ? (st == 0 ? "status=0" : "status!=0") : "timeout");
		memset(phys(back), 0, 512);
		got = blk_req(d, BLK_T_IN, want, back, 512, 0, &st);
		int same = got && st == 0 && memcmp(phys(back), phys(data), 512) == 0;
		checkf(same, cn(d, "readback"), "pattern", "%s", same ? "pattern" : "mismatch");
		if (d->acked & BLK_F_FLUSH) {
			got = blk_req(d, BLK_T_FLUSH, 0, 0, 0, 0, &st);
			checkf(got && st == 0, cn(d, "flush"), "status=0", "%s", got ? (st == 0 ? "status=0" : "status!=0") : "timeout");
		} else {
			check(0, cn(d, "flush"), "status=0", "VIRTIO_BLK_F_FLUSH_not_offered");
		}
	}
	if (index == 0 && param_u64("microvm.blk_bench_kib", &want)) blk_bench(d, want);
}

/* ---- console (§5.3), single port (MULTIPORT not negotiated) -------------------------------- */
static struct vdev *con_dev;
static int con_broken;
static void console_sink(const char *s, size_t n) {
	if (con_broken) return;
	struct vdev *d = con_dev;
	u64 buf = d->mem + 0x4000;
	if (n > 512) n = 512;
	memcpy(phys(buf), s, n);
	struct buf b = { buf, (u32)n, 0 };
	u32 before = d->irq_count;
	submit(d, &d->q[1], 0, &b, 1, 1);
	if (!wait_used(d, &d->q[1], 1000, before, 0, 0, 0)) {
		/* stop streaming (one timeout, not one per line); the UART, if any, still has the report */
		con_broken = 1;
		check(0, cn(d, "stream"), "used", "timeout");
	}
	ack_poll(d);
}
static void console_run(struct vdev *d) {
	if (!init_device(d, 0, 2)) return;
	/* receiveq: one buffer posted, as a driver does */
	struct buf rb = { d->mem + 0x4800, 256, 1 };
	submit(d, &d->q[0], 0, &rb, 1, 1);
	/* The first transmission is the report's first line; the rest of the report follows it. */
	size_t n = out_first_line(phys(d->mem + 0x4000), 512);
	struct buf b = { d->mem + 0x4000, (u32)n, 0 };
	u32 before = d->irq_count, ulen = 0;
	submit(d, &d->q[1], 0, &b, 1, 1);
	int got = wait_used(d, &d->q[1], 2000, before, d->use_irq, 0, &ulen);
	checkf(got, cn(d, "tx"), "used", "%s", got ? "used" : "timeout");
	report_completion(d, got, before);
	ack_poll(d);
	if (got && !con_dev) {
		con_dev = d;
		out_attach_sink(console_sink, n);
	}
}

/* ---- entropy (§5.4) ----------------------------------------------------------------------- */
static void rng_run(struct vdev *d) {
	if (!init_device(d, 0, 1)) return;
	u64 buf = d->mem + 0x4000;
	memset(phys(buf), 0, 64);
	struct buf b = { buf, 64, 1 };
	u32 before = d->irq_count, len = 0;
	submit(d, &d->q[0], 0, &b, 1, 1);
	int got = wait_used(d, &d->q[0], 3000, before, d->use_irq, 0, &len);
	report_completion(d, got, before);
	ack_poll(d);
	int varied = 0;
	u8 *p = phys(buf);
	for (u32 i = 1; i < len && i < 64; i++) varied |= p[i] != p[0];
	info("virtio.%s read len=%u", d->name, len);
	int ok = got && len > 0 && len <= 64 && varied;
	if (ok) check(1, cn(d, "read"), "len=1..64,varied", "len=1..64,varied");
	else checkf(0, cn(d, "read"), "len=1..64,varied", "%s,len=%u,%s", got ? "used" : "timeout", len, varied ? "varied" : "all-equal");
}

/* ---- net (§5.1): ARP request for a given address, wait for the reply ------------------------ */
#define NET_F_MAC (1ull << 5)
static void net_run(struct vdev *d) {
	if (!init_device(d, NET_F_MAC, 2)) return;
	u32 hdr = d->version == 2 ? 12 : 10; /* virtio_net_hdr_v1 vs legacy without MRG_RXBUF */
	u8 mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	if (d->acked & NET_F_MAC)
		CONFIG_STABLE(d, for (int i = 0; i < 6; i++) mac[i] = cfg8(d, (u32)i));
	u8 myip[4] = { 10, 0, 2, 15 }, tip[4] = { 10, 0, 2, 2 };
	char s[32];
	if (param_str("microvm.net_ip", s, sizeof(s))) parse_ipv4(s, myip);
	if (param_str("microvm.net_arp", s, sizeof(s))) parse_ipv4(s, tip);
	info("virtio.%s mac=%02x:%02x:%02x:%02x:%02x:%02x ip=%u.%u.%u.%u hdr_len=%u", d->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
	     myip[0], myip[1], myip[2], myip[3], hdr);
	/* receive queue: 4 buffers of header + 1514 */
	struct vq *rx = &d->q[0], *tx = &d->q[1];
	for (u16 i = 0; i < 4; i++) {
		struct buf b = { d->mem + 0x4800 + 0x600u * i, 0x600, 1 };
		submit(d, rx, i, &b, 1, i == 3);
	}
	/* ARP request (RFC 826) */
	u64 tb = d->mem + 0x4000;
	u8 *t = phys(tb);
	memset(t, 0, hdr + 60);
	u8 *f = t + hdr;
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08, f[13] = 0x06;            /* ethertype ARP */
	f[14] = 0, f[15] = 1;                  /* htype ethernet */
	f[16] = 0x08, f[17] = 0x00;            /* ptype IPv4 */
	f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1; /* hlen, plen, op=request */
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, myip, 4);
	memcpy(f + 38, tip, 4);
	struct buf b2[2] = { { tb, hdr, 0 }, { tb + hdr, 60, 0 } };
	struct buf b1 = { tb, hdr + 60, 0 };
	u32 before = d->irq_count;
	/* like Linux: header and frame in one descriptor only when the layout is free (VERSION_1) */
	if (d->version == 2) submit(d, tx, 0, &b1, 1, 1);
	else submit(d, tx, 0, b2, 2, 1);
	int got = wait_used(d, tx, 3000, before, d->use_irq, 0, 0);
	checkf(got, cn(d, "tx"), "used", "%s", got ? "used" : "timeout");
	report_completion(d, got, before);
	ack_poll(d);
	char exp[48], res[48];
	char wantmac[32];
	int has_mac = param_str("microvm.net_arp_mac", wantmac, sizeof(wantmac));
	sfmt(exp, sizeof(exp), "reply:%u.%u.%u.%u%s%s", tip[0], tip[1], tip[2], tip[3], has_mac ? "@" : "", has_mac ? wantmac : "");
	sfmt(res, sizeof(res), "timeout");
	int ok = 0;
	u64 dl = deadline_ms(3000);
	while (!ok && !expired(dl)) {
		u32 id, len;
		before = d->irq_count;
		if (!wait_used(d, rx, 200, before, 0, &id, &len)) continue;
		ack_poll(d);
		u8 *r = (u8 *)phys(d->mem + 0x4800 + 0x600u * (id & 3)) + hdr;
		if (len >= hdr + 42 && r[12] == 0x08 && r[13] == 0x06 && r[20] == 0 && r[21] == 2 && !memcmp(r + 28, tip, 4) && !memcmp(r + 38, myip, 4)) {
			sfmt(res, sizeof(res), "reply:%u.%u.%u.%u@%02x:%02x:%02x:%02x:%02x:%02x", tip[0], tip[1], tip[2], tip[3], r[22], r[23], r[24], r[25], r[26],
			     r[27]);
			ok = 1;
		} else {
			info("virtio.%s rx len=%u ethertype=0x%02x%02x (ignored)", d->name, len, r[12], r[13]);
		}
		struct buf b = { d->mem + 0x4800 + 0x600u * (id & 3), 0x600, 1 };
		submit(d, rx, (u16)(id & 3), &b, 1, 1);
	}
	if (ok && has_mac) {
		/* compare the MAC case-insensitively as text */
		char *m = res;
		while (*m && *m != '@') m++;
		ok = *m && strlen(m + 1) == strlen(wantmac);
		for (size_t i = 0; ok && wantmac[i]; i++) {
			char a = m[1 + i], c = wantmac[i];
			if (c >= 'A' && c <= 'F') c = (char)(c - 'A' + 'a');
			ok = a == c;
		}
	}
	check(ok, cn(d, "arp"), exp, res);
}

/* ---- probe every virtio_mmio.device= entry ---------------------------------------------- */
static const char *type_name(u32 id) {
	switch (id) {
	case 1: return "net";
	case 2: return "blk";
	case 3: return "console";
	case 4: return "rng";
	default: return "dev";
	}
}

void check_virtio_all(void) {
	struct mmio_dev_param p[MAXDEV];
	int n = cmdline_virtio(p, MAXDEV);
	u64 v;
	want_version = param_u64("microvm.virtio_version", &v) ? (int)v : 0;
	if (param_u64("microvm.virtio_devices", &v)) check_dec("virtio.devices", v, (u64)n);
	else info("virtio devices=%d", n);
	int irq_ok = arch_irq_supported();
	if (param_u64("microvm.irq", &v) && v == 0) irq_ok = 0;
	int count[5] = { 0, 0, 0, 0, 0 };
	/* probe all first (magic/version/id), so names are by type and per-type index */
	for (int i = 0; i < n; i++) {
		struct vdev *d = &devs[i];
		char nm[40];
		if (!p[i].ok || !phys_ok(p[i].base, 0x100) || p[i].size < 0x100) {
			/* unparsable, or not reachable from this guest (guest32: above 4 GiB) */
			sfmt(nm, sizeof(nm), "virtio.param%d", i);
			check(0, nm, "<size>@<base>:<irq>", p[i].text);
			p[i].ok = 0;
			continue;
		}
		d->base = p[i].base;
		d->gsi = p[i].irq;
		d->mem = (u64)(uptr)pool[i];
		u32 magic = vr(d, R_MAGIC);
		d->version = vr(d, R_VERSION);
		d->devid = vr(d, R_DEVICE_ID);
		u32 t = d->devid >= 1 && d->devid <= 4 ? d->devid : 0;
		sfmt(d->name, sizeof(d->name), "%s%d", type_name(d->devid), count[t]++);
		info("virtio.%s base=0x%llx size=0x%llx gsi=%u vendor=0x%x", d->name, (unsigned long long)d->base, (unsigned long long)p[i].size,
		     d->gsi, vr(d, R_VENDOR_ID));
		if (!check_hex(cn(d, "magic"), 0x74726976, magic)) { d->devid = 0; continue; }
		if (want_version) check_dec(cn(d, "version"), (u64)want_version, d->version);
		else checkf(d->version == 1 || d->version == 2, cn(d, "version"), "1|2", "%u", d->version);
		if (d->version != 1 && d->version != 2) { d->devid = 0; continue; }
		checkf(d->devid != 0, cn(d, "device_id"), "nonzero", "%u(%s)", d->devid, type_name(d->devid));
		if (!d->devid) continue;
		/* The MPTable must route the device's interrupt (ISA IRQ n) to IOAPIC pin n. */
		u32 pin = d->gsi < sizeof(mp.route) && mp.route[d->gsi] != 0xff ? mp.route[d->gsi] : d->gsi;
		if (mp.found) {
			char nm2[48];
			sfmt(nm2, sizeof(nm2), "mptable.route.%s", d->name);
			u8 r = d->gsi < sizeof(mp.route) ? mp.route[d->gsi] : 0xff;
			if (r == 0xff) checkf(0, nm2, "pin=irq", "none(irq%u)", d->gsi);
			else if (r == d->gsi) check(1, nm2, "pin=irq", "pin=irq");
			else checkf(0, nm2, "pin=irq", "pin%u(irq%u)", r, d->gsi);
		}
		if (irq_ok) d->use_irq = arch_irq_attach(pin, vdev_irq, d) >= 0;
	}
	if (irq_ok) arch_irq_enable();
	for (int i = 0; i < n; i++) {
		struct vdev *d = &devs[i];
		if (!p[i].ok || !d->devid) continue;
		switch (d->devid) {
		case 1: net_run(d); break;
		case 2: blk_run(d, d->name[3] - '0'); break;
		case 3: console_run(d); break;
		case 4: rng_run(d); break;
		default: info("virtio.%s id=%u not driven", d->name, d->devid); break;
		}
	}
	if (irq_ok) arch_irq_disable();
}
