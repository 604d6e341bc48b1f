/*
 * Prints virtio constants, register offsets, struct sizes and field offsets from the Linux UAPI
 * headers (package linux-libc-dev), one "name value" line each, in decimal. The output is
 * committed as virtio_golden.txt and compared with @microvm/virtio-mmio's constants by
 * test/golden.test.ts. See README.md for how to rerun it.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>
#include <linux/virtio_console.h>

#define P(name, v) printf("%s %llu\n", name, (unsigned long long)(v))
#define OFF(name, type, field) P(name, offsetof(type, field))
#define SZ(name, type) P(name, sizeof(type))

int main(void) {
  /* include/uapi/linux/virtio_mmio.h */
  P("mmio.MagicValue", VIRTIO_MMIO_MAGIC_VALUE);
  P("mmio.Version", VIRTIO_MMIO_VERSION);
  P("mmio.DeviceId", VIRTIO_MMIO_DEVICE_ID);
  P("mmio.VendorId", VIRTIO_MMIO_VENDOR_ID);
  P("mmio.DeviceFeatures", VIRTIO_MMIO_DEVICE_FEATURES);
  P("mmio.DeviceFeaturesSel", VIRTIO_MMIO_DEVICE_FEATURES_SEL);
  P("mmio.DriverFeatures", VIRTIO_MMIO_DRIVER_FEATURES);
  P("mmio.DriverFeaturesSel", VIRTIO_MMIO_DRIVER_FEATURES_SEL);
  P("mmio.GuestPageSize", VIRTIO_MMIO_GUEST_PAGE_SIZE);
  P("mmio.QueueSel", VIRTIO_MMIO_QUEUE_SEL);
  P("mmio.QueueNumMax", VIRTIO_MMIO_QUEUE_NUM_MAX);
  P("mmio.QueueNum", VIRTIO_MMIO_QUEUE_NUM);
  P("mmio.QueueAlign", VIRTIO_MMIO_QUEUE_ALIGN);
  P("mmio.QueuePfn", VIRTIO_MMIO_QUEUE_PFN);
  P("mmio.QueueReady", VIRTIO_MMIO_QUEUE_READY);
  P("mmio.QueueNotify", VIRTIO_MMIO_QUEUE_NOTIFY);
  P("mmio.InterruptStatus", VIRTIO_MMIO_INTERRUPT_STATUS);
  P("mmio.InterruptAck", VIRTIO_MMIO_INTERRUPT_ACK);
  P("mmio.Status", VIRTIO_MMIO_STATUS);
  P("mmio.QueueDescLow", VIRTIO_MMIO_QUEUE_DESC_LOW);
  P("mmio.QueueDescHigh", VIRTIO_MMIO_QUEUE_DESC_HIGH);
  P("mmio.QueueAvailLow", VIRTIO_MMIO_QUEUE_AVAIL_LOW);
  P("mmio.QueueAvailHigh", VIRTIO_MMIO_QUEUE_AVAIL_HIGH);
  P("mmio.QueueUsedLow", VIRTIO_MMIO_QUEUE_USED_LOW);
  P("mmio.QueueUsedHigh", VIRTIO_MMIO_QUEUE_USED_HIGH);
  P("mmio.ShmSel", VIRTIO_MMIO_SHM_SEL);
  P("mmio.ShmLenLow", VIRTIO_MMIO_SHM_LEN_LOW);
  P("mmio.ShmLenHigh", VIRTIO_MMIO_SHM_LEN_HIGH);
  P("mmio.ShmBaseLow", VIRTIO_MMIO_SHM_BASE_LOW);
  P("mmio.ShmBaseHigh", VIRTIO_MMIO_SHM_BASE_HIGH);
  P("mmio.ConfigGeneration", VIRTIO_MMIO_CONFIG_GENERATION);
  P("mmio.Config", VIRTIO_MMIO_CONFIG);
  P("int.Vring", VIRTIO_MMIO_INT_VRING);
  P("int.Config", VIRTIO_MMIO_INT_CONFIG);

  /* include/uapi/linux/virtio_config.h */
  P("status.Acknowledge", VIRTIO_CONFIG_S_ACKNOWLEDGE);
  P("status.Driver", VIRTIO_CONFIG_S_DRIVER);
  P("status.DriverOk", VIRTIO_CONFIG_S_DRIVER_OK);
  P("status.FeaturesOk", VIRTIO_CONFIG_S_FEATURES_OK);
  P("status.NeedsReset", VIRTIO_CONFIG_S_NEEDS_RESET);
  P("status.Failed", VIRTIO_CONFIG_S_FAILED);
  P("feature.NotifyOnEmpty", VIRTIO_F_NOTIFY_ON_EMPTY);
  P("feature.AnyLayout", VIRTIO_F_ANY_LAYOUT);
  P("feature.Version1", VIRTIO_F_VERSION_1);
  P("feature.AccessPlatform", VIRTIO_F_ACCESS_PLATFORM);
  P("feature.RingPacked", VIRTIO_F_RING_PACKED);
  P("feature.InOrder", VIRTIO_F_IN_ORDER);
#ifdef VIRTIO_F_NOTIFICATION_DATA
  P("feature.NotificationData", VIRTIO_F_NOTIFICATION_DATA);
#endif
  P("feature.RingReset", VIRTIO_F_RING_RESET);

  /* include/uapi/linux/virtio_ring.h */
  P("feature.IndirectDesc", VIRTIO_RING_F_INDIRECT_DESC);
  P("feature.EventIdx", VIRTIO_RING_F_EVENT_IDX);
  P("vring.DescNext", VRING_DESC_F_NEXT);
  P("vring.DescWrite", VRING_DESC_F_WRITE);
  P("vring.DescIndirect", VRING_DESC_F_INDIRECT);
  P("vring.AvailNoInterrupt", VRING_AVAIL_F_NO_INTERRUPT);
  P("vring.UsedNoNotify", VRING_USED_F_NO_NOTIFY);
  P("vring.DescAlign", VRING_DESC_ALIGN_SIZE);
  P("vring.AvailAlign", VRING_AVAIL_ALIGN_SIZE);
  P("vring.UsedAlign", VRING_USED_ALIGN_SIZE);
  SZ("sizeof.vring_desc", struct vring_desc);
  OFF("offsetof.vring_desc.addr", struct vring_desc, addr);
  OFF("offsetof.vring_desc.len", struct vring_desc, len);
  OFF("offsetof.vring_desc.flags", struct vring_desc, flags);
  OFF("offsetof.vring_desc.next", struct vring_desc, next);
  SZ("sizeof.vring_used_elem", struct vring_used_elem);
  OFF("offsetof.vring_avail.idx", struct vring_avail, idx);
  OFF("offsetof.vring_avail.ring", struct vring_avail, ring);
  OFF("offsetof.vring_used.idx", struct vring_used, idx);
  OFF("offsetof.vring_used.ring", struct vring_used, ring);
  /* vring_size(num, align) for a legacy ring of 256 entries, 4096-byte alignment */
  P("vring_size.256.4096", vring_size(256, 4096));
  P("vring_size.8.4096", vring_size(8, 4096));

  /* include/uapi/linux/virtio_ids.h */
  P("id.Net", VIRTIO_ID_NET);
  P("id.Block", VIRTIO_ID_BLOCK);
  P("id.Console", VIRTIO_ID_CONSOLE);
  P("id.Rng", VIRTIO_ID_RNG);

  /* include/uapi/linux/virtio_blk.h */
  P("blkf.SizeMax", VIRTIO_BLK_F_SIZE_MAX);
  P("blkf.SegMax", VIRTIO_BLK_F_SEG_MAX);
  P("blkf.Geometry", VIRTIO_BLK_F_GEOMETRY);
  P("blkf.Ro", VIRTIO_BLK_F_RO);
  P("blkf.BlkSize", VIRTIO_BLK_F_BLK_SIZE);
  P("blkf.Flush", VIRTIO_BLK_F_FLUSH);
  P("blkf.Topology", VIRTIO_BLK_F_TOPOLOGY);
  P("blkf.ConfigWce", VIRTIO_BLK_F_CONFIG_WCE);
  P("blkf.Mq", VIRTIO_BLK_F_MQ);
  P("blkf.Discard", VIRTIO_BLK_F_DISCARD);
  P("blkf.WriteZeroes", VIRTIO_BLK_F_WRITE_ZEROES);
  P("blkt.In", VIRTIO_BLK_T_IN);
  P("blkt.Out", VIRTIO_BLK_T_OUT);
  P("blkt.Flush", VIRTIO_BLK_T_FLUSH);
  P("blkt.GetId", VIRTIO_BLK_T_GET_ID);
  P("blkt.Discard", VIRTIO_BLK_T_DISCARD);
  P("blkt.WriteZeroes", VIRTIO_BLK_T_WRITE_ZEROES);
  P("blks.Ok", VIRTIO_BLK_S_OK);
  P("blks.IoErr", VIRTIO_BLK_S_IOERR);
  P("blks.Unsupp", VIRTIO_BLK_S_UNSUPP);
  P("blk.IdBytes", VIRTIO_BLK_ID_BYTES);
  SZ("sizeof.virtio_blk_outhdr", struct virtio_blk_outhdr);
  OFF("offsetof.virtio_blk_outhdr.type", struct virtio_blk_outhdr, type);
  OFF("offsetof.virtio_blk_outhdr.sector", struct virtio_blk_outhdr, sector);
  SZ("sizeof.virtio_blk_discard_write_zeroes", struct virtio_blk_discard_write_zeroes);
  OFF("offsetof.virtio_blk_discard_write_zeroes.num_sectors", struct virtio_blk_discard_write_zeroes, num_sectors);
  OFF("offsetof.virtio_blk_discard_write_zeroes.flags", struct virtio_blk_discard_write_zeroes, flags);
  P("blk.WriteZeroesFlagUnmap", VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
  OFF("offsetof.virtio_blk_config.capacity", struct virtio_blk_config, capacity);
  OFF("offsetof.virtio_blk_config.seg_max", struct virtio_blk_config, seg_max);
  OFF("offsetof.virtio_blk_config.blk_size", struct virtio_blk_config, blk_size);
  OFF("offsetof.virtio_blk_config.max_discard_sectors", struct virtio_blk_config, max_discard_sectors);
  OFF("offsetof.virtio_blk_config.max_discard_seg", struct virtio_blk_config, max_discard_seg);
  OFF("offsetof.virtio_blk_config.discard_sector_alignment", struct virtio_blk_config, discard_sector_alignment);
  OFF("offsetof.virtio_blk_config.max_write_zeroes_sectors", struct virtio_blk_config, max_write_zeroes_sectors);
  OFF("offsetof.virtio_blk_config.max_write_zeroes_seg", struct virtio_blk_config, max_write_zeroes_seg);
  OFF("offsetof.virtio_blk_config.write_zeroes_may_unmap", struct virtio_blk_config, write_zeroes_may_unmap);
  OFF("offsetof.virtio_blk_config.max_secure_erase_sectors", struct virtio_blk_config, max_secure_erase_sectors);

  /* include/uapi/linux/virtio_net.h */
  P("netf.Csum", VIRTIO_NET_F_CSUM);
  P("netf.GuestCsum", VIRTIO_NET_F_GUEST_CSUM);
  P("netf.Mtu", VIRTIO_NET_F_MTU);
  P("netf.Mac", VIRTIO_NET_F_MAC);
  P("netf.MrgRxbuf", VIRTIO_NET_F_MRG_RXBUF);
  P("netf.Status", VIRTIO_NET_F_STATUS);
  P("net.StatusLinkUp", VIRTIO_NET_S_LINK_UP);
  SZ("sizeof.virtio_net_hdr", struct virtio_net_hdr);
  SZ("sizeof.virtio_net_hdr_v1", struct virtio_net_hdr_v1);
  SZ("sizeof.virtio_net_hdr_mrg_rxbuf", struct virtio_net_hdr_mrg_rxbuf);
  OFF("offsetof.virtio_net_hdr_v1.num_buffers", struct virtio_net_hdr_v1, num_buffers);
  OFF("offsetof.virtio_net_config.status", struct virtio_net_config, status);
  OFF("offsetof.virtio_net_config.max_virtqueue_pairs", struct virtio_net_config, max_virtqueue_pairs);
  OFF("offsetof.virtio_net_config.mtu", struct virtio_net_config, mtu);
  OFF("offsetof.virtio_net_config.speed", struct virtio_net_config, speed);

  /* include/uapi/linux/virtio_console.h */
  P("console.FeatureSize", VIRTIO_CONSOLE_F_SIZE);
  P("console.FeatureMultiport", VIRTIO_CONSOLE_F_MULTIPORT);
  P("console.FeatureEmergWrite", VIRTIO_CONSOLE_F_EMERG_WRITE);
  SZ("sizeof.virtio_console_config", struct virtio_console_config);
  OFF("offsetof.virtio_console_config.rows", struct virtio_console_config, rows);
  OFF("offsetof.virtio_console_config.max_nr_ports", struct virtio_console_config, max_nr_ports);
  OFF("offsetof.virtio_console_config.emerg_wr", struct virtio_console_config, emerg_wr);
  return 0;
}
