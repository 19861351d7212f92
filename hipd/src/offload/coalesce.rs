//! GRO in userspace: merging in-order TCP segments of one flow into one
//! super-packet written to the TUN with a vnet header.
//!
//! The rules follow wireguard-go's `tcpGRO`/`tcpPacketsCanCoalesce`/
//! `applyTCPCoalesceAccounting` (`tun/offload_linux.go`), made stricter where
//! the kernel's `tcp_gro_receive` (`net/ipv4/tcp_offload.c`),
//! `inet_gro_receive` and `ipv6_gro_receive` are: a segment is appended to
//! the newest packet held for its connection (same addresses and ports) when
//!
//! * both are TCP over IPv4 without options and not fragmented, or over IPv6
//!   without extension headers, with IP length fields matching their size;
//! * the IPv4 TOS, DF bit and TTL, or the first IPv6 word (version, traffic
//!   class, flow label) and hop limit, are equal;
//! * TCP flags are ACK, or ACK|PSH (PSH ends the merged packet); the
//!   acknowledgment number, window and header length are equal and the
//!   options (e.g. timestamps) identical octet for octet;
//! * its sequence number follows the held packet's last octet, its payload is
//!   not empty and not larger than the held packet's first (the segment
//!   size), and no shorter segment was appended before it;
//! * both checksums verify (checked lazily, on the first merge) and the
//!   result stays within 65535 octets.
//!
//! Segments are only appended, never prepended (wireguard-go also prepends
//! to repair reordering; hipd's ESP replay window delivers in order often
//! enough). UDP GRO is left out. Packets that merge with nothing are emitted
//! unchanged, in arrival order, behind an all-zero vnet header
//! (`GSO_NONE`); merged ones get `F_NEEDS_CSUM` with the pseudo-header sum in
//! the TCP checksum field (`CHECKSUM_PARTIAL`: the kernel does not verify
//! what it would only have to recompute), gso type TCPV4/TCPV6 and
//! `gso_size` the first segment's payload length.
use super::checksum;
use super::ip::{
    be32, fix_ipv4_checksum, put16, set_ip_len, IpInfo, MAX_IP_LEN, PROTO_TCP, TCP_ACK,
    TCP_FLAGS_AT, TCP_PSH,
};
use super::vnet::{VnetHdr, F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, VNET_HDR_LEN};
use super::OffloadError;

/// What [`Coalescer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Appended to a packet already held.
    Merged,
    /// Held in a slot of its own.
    Stored,
}

/// A TCP connection as seen in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    ports: [u8; 4],
}

/// State of the TCP packet held in a slot.
#[derive(Debug, Clone, Copy)]
struct Flow {
    key: FlowKey,
    /// More segments may be appended.
    open: bool,
    /// The head packet's checksum was verified.
    verified: bool,
    ip_len: usize,
    tcp_len: usize,
    /// Payload of the first segment.
    gso_size: usize,
    next_seq: u32,
    segments: u16,
}

/// One held packet: `len` octets after the slot's vnet header room.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    len: usize,
    flow: Option<Flow>,
}

/// A TCP segment that may be merged.
#[derive(Debug, Clone, Copy)]
struct Segment {
    ip_len: usize,
    tcp_len: usize,
    payload: usize,
    seq: u32,
    psh: bool,
}

/// Fixed-capacity TCP GRO for packets on their way to the TUN.
///
/// All memory is allocated by [`Coalescer::new`]; `push` copies each packet
/// into a slot (or appends its payload to a held one) and `flush` hands every
/// held packet, vnet header in front, to a writer.
pub struct Coalescer {
    store: Box<[u8]>,
    slots: Box<[Slot]>,
    used: usize,
    slot_len: usize,
}

impl Coalescer {
    /// A coalescer holding up to `slots` packets (at least 1) of up to
    /// `max_len` octets each (clamped to 1..=65535), which also bounds merged
    /// packets. Allocates `slots * (10 + max_len)` octets.
    pub fn new(slots: usize, max_len: usize) -> Self {
        let slots = slots.max(1);
        let max_len = max_len.clamp(1, MAX_IP_LEN);
        let slot_len = VNET_HDR_LEN + max_len;
        Coalescer {
            store: vec![0; slots * slot_len].into_boxed_slice(),
            slots: vec![Slot::default(); slots].into_boxed_slice(),
            used: 0,
            slot_len,
        }
    }

    /// Number of packets held.
    pub fn len(&self) -> usize {
        self.used
    }

    /// True if no packet is held.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Largest packet accepted (and largest merged packet).
    pub fn max_len(&self) -> usize {
        self.slot_len - VNET_HDR_LEN
    }

    /// Takes one inner IP packet. Errors: [`OffloadError::TooLarge`] beyond
    /// [`Coalescer::max_len`] (drop it), [`OffloadError::CoalescerFull`] when
    /// it merges with nothing and no slot is free (flush, then push again).
    pub fn push(&mut self, pkt: &[u8]) -> Result<Pushed, OffloadError> {
        if pkt.len() > self.max_len() {
            return Err(OffloadError::TooLarge);
        }
        let parsed = classify(pkt);
        if let Some((key, Some(seg))) = parsed {
            if self.try_merge(&key, &seg, pkt) {
                return Ok(Pushed::Merged);
            }
        }
        if self.used == self.slots.len() {
            return Err(OffloadError::CoalescerFull);
        }
        self.store_new(pkt, parsed);
        Ok(Pushed::Stored)
    }

    /// [`Coalescer::push`], flushing into `out` first when full.
    pub fn push_or_flush<F>(&mut self, pkt: &[u8], out: F) -> Result<Pushed, OffloadError>
    where
        F: FnMut(&[u8]),
    {
        match self.push(pkt) {
            Err(OffloadError::CoalescerFull) => {
                self.flush(out);
                self.push(pkt)
            }
            r => r,
        }
    }

    /// Hands every held packet, in arrival order, to `out` as vnet header
    /// plus IP packet (ready for one TUN write), then empties the coalescer.
    pub fn flush<F>(&mut self, mut out: F)
    where
        F: FnMut(&[u8]),
    {
        for i in 0..self.used {
            let slot = self.slots[i];
            let base = i * self.slot_len;
            let bytes = &mut self.store[base..base + VNET_HDR_LEN + slot.len];
            finish_slot(&slot, bytes);
            out(bytes);
        }
        self.used = 0;
    }

    /// The held packet of slot `i`.
    fn packet(&self, i: usize) -> &[u8] {
        let at = i * self.slot_len + VNET_HDR_LEN;
        &self.store[at..at + self.slots[i].len]
    }

    /// Appends `seg` to the newest held packet of its connection if allowed.
    fn try_merge(&mut self, key: &FlowKey, seg: &Segment, pkt: &[u8]) -> bool {
        let Some(i) = (0..self.used)
            .rev()
            .find(|&i| self.slots[i].flow.is_some_and(|f| f.key == *key))
        else {
            return false;
        };
        let Some(flow) = self.slots[i].flow else {
            return false;
        };
        if !can_append(&flow, seg, self.packet(i), pkt, self.max_len()) {
            return false;
        }
        if !flow.verified && !tcp_checksum_ok(self.packet(i), flow.ip_len) {
            self.close(i);
            return false;
        }
        if !tcp_checksum_ok(pkt, seg.ip_len) {
            return false;
        }
        self.append(i, seg, pkt);
        true
    }

    /// No more segments go into slot `i`.
    fn close(&mut self, i: usize) {
        if let Some(f) = self.slots[i].flow.as_mut() {
            f.open = false;
        }
    }

    /// Copies `pkt`'s payload behind slot `i`'s packet.
    fn append(&mut self, i: usize, seg: &Segment, pkt: &[u8]) {
        let slot = &mut self.slots[i];
        let at = i * self.slot_len + VNET_HDR_LEN;
        let headers = seg.ip_len + seg.tcp_len;
        self.store[at + slot.len..at + slot.len + seg.payload].copy_from_slice(&pkt[headers..]);
        slot.len += seg.payload;
        let Some(flow) = slot.flow.as_mut() else {
            return;
        };
        flow.verified = true;
        flow.segments = flow.segments.saturating_add(1);
        flow.next_seq = flow.next_seq.wrapping_add(seg.payload as u32);
        if seg.payload < flow.gso_size {
            flow.open = false;
        }
        if seg.psh {
            flow.open = false;
            self.store[at + flow.ip_len + TCP_FLAGS_AT] |= TCP_PSH;
        }
    }

    /// Puts `pkt` into the next free slot.
    fn store_new(&mut self, pkt: &[u8], parsed: Option<(FlowKey, Option<Segment>)>) {
        let i = self.used;
        let at = i * self.slot_len + VNET_HDR_LEN;
        self.store[at..at + pkt.len()].copy_from_slice(pkt);
        let flow = parsed.map(|(key, seg)| new_flow(key, seg, pkt));
        self.slots[i] = Slot {
            len: pkt.len(),
            flow,
        };
        self.used += 1;
    }
}

/// The slot state for a TCP packet (closed unless it is a merge candidate).
fn new_flow(key: FlowKey, seg: Option<Segment>, pkt: &[u8]) -> Flow {
    let mut flow = Flow {
        key,
        open: false,
        verified: false,
        ip_len: 0,
        tcp_len: 0,
        gso_size: 0,
        next_seq: 0,
        segments: 1,
    };
    if let Some(s) = seg {
        flow.open = !s.psh;
        flow.ip_len = s.ip_len;
        flow.tcp_len = s.tcp_len;
        flow.gso_size = s.payload;
        flow.next_seq = be32(pkt, s.ip_len + 4).wrapping_add(s.payload as u32);
    }
    flow
}

/// The connection of a TCP packet, and the segment if it may be merged.
fn classify(pkt: &[u8]) -> Option<(FlowKey, Option<Segment>)> {
    let ip = IpInfo::parse(pkt).ok()?;
    if ip.proto != PROTO_TCP || pkt.len() < ip.header_len + 20 || ip.is_fragment(pkt) {
        return None;
    }
    let key = flow_key(&ip, pkt);
    Some((key, candidate(&ip, pkt)))
}

/// Addresses and ports of a TCP packet.
fn flow_key(ip: &IpInfo, pkt: &[u8]) -> FlowKey {
    let (s, d) = ip.addrs(pkt);
    let mut key = FlowKey {
        v6: ip.v6,
        src: [0; 16],
        dst: [0; 16],
        ports: [0; 4],
    };
    key.src[..s.len()].copy_from_slice(s);
    key.dst[..d.len()].copy_from_slice(d);
    key.ports
        .copy_from_slice(&pkt[ip.header_len..ip.header_len + 4]);
    key
}

/// The segment, if this TCP packet is one GRO may merge (`tcpGRO`).
fn candidate(ip: &IpInfo, pkt: &[u8]) -> Option<Segment> {
    let l4 = ip.header_len;
    let ip_len_ok = if ip.v6 {
        usize::from(u16::from_be_bytes([pkt[4], pkt[5]])) + 40 == pkt.len()
    } else {
        ip.header_len == 20 && usize::from(u16::from_be_bytes([pkt[2], pkt[3]])) == pkt.len()
    };
    let tcp_len = usize::from(pkt[l4 + 12] >> 4) * 4;
    let flags = pkt[l4 + TCP_FLAGS_AT];
    let flags_ok = flags == TCP_ACK || flags == TCP_ACK | TCP_PSH;
    if !ip_len_ok || !flags_ok || tcp_len < 20 || l4 + tcp_len >= pkt.len() {
        return None;
    }
    Some(Segment {
        ip_len: l4,
        tcp_len,
        payload: pkt.len() - l4 - tcp_len,
        seq: be32(pkt, l4 + 4),
        psh: flags & TCP_PSH != 0,
    })
}

/// The merge rules other than checksums (see the module documentation).
fn can_append(flow: &Flow, seg: &Segment, held: &[u8], pkt: &[u8], max_len: usize) -> bool {
    flow.open
        && seg.seq == flow.next_seq
        && seg.payload <= flow.gso_size
        && seg.ip_len == flow.ip_len
        && seg.tcp_len == flow.tcp_len
        && held.len() + seg.payload <= max_len
        && ip_headers_match(flow.key.v6, held, pkt)
        && tcp_headers_match(flow, held, pkt)
}

/// IPv4 TOS, DF and TTL, or IPv6 first word and hop limit, are equal.
fn ip_headers_match(v6: bool, a: &[u8], b: &[u8]) -> bool {
    if v6 {
        a[..4] == b[..4] && a[7] == b[7]
    } else {
        a[1] == b[1] && a[6] & 0x40 == b[6] & 0x40 && a[8] == b[8]
    }
}

/// Acknowledgment number, data offset, window and options are equal.
fn tcp_headers_match(flow: &Flow, held: &[u8], pkt: &[u8]) -> bool {
    let (l4, end) = (flow.ip_len, flow.ip_len + flow.tcp_len);
    held[l4 + 8..l4 + 13] == pkt[l4 + 8..l4 + 13]
        && held[l4 + 14..l4 + 16] == pkt[l4 + 14..l4 + 16]
        && held[l4 + 20..end] == pkt[l4 + 20..end]
}

/// True if the TCP checksum of `pkt` (IP header `ip_len` octets) verifies.
fn tcp_checksum_ok(pkt: &[u8], ip_len: usize) -> bool {
    let v6 = ip_len == 40;
    let (src, dst) = if v6 {
        (&pkt[8..24], &pkt[24..40])
    } else {
        (&pkt[12..16], &pkt[16..20])
    };
    let sum = checksum::pseudo_header(src, dst, PROTO_TCP, (pkt.len() - ip_len) as u32);
    checksum::fold(checksum::add(sum, &pkt[ip_len..])) == 0xffff
}

/// Writes the vnet header of a slot and, for a merged packet, fixes the IP
/// length (and IPv4 checksum) and puts the pseudo-header sum in the TCP
/// checksum (`applyTCPCoalesceAccounting`).
fn finish_slot(slot: &Slot, bytes: &mut [u8]) {
    let (vnet, pkt) = bytes.split_at_mut(VNET_HDR_LEN);
    let hdr = match slot.flow {
        Some(flow) if flow.segments > 1 => merged_header(&flow, pkt),
        _ => VnetHdr::default(),
    };
    // The slot always has VNET_HDR_LEN octets of room.
    let _ = hdr.emit(vnet);
}

/// Fixes a merged packet's headers and returns its vnet header.
fn merged_header(flow: &Flow, pkt: &mut [u8]) -> VnetHdr {
    let ip = IpInfo {
        v6: flow.key.v6,
        header_len: flow.ip_len,
        proto: PROTO_TCP,
    };
    set_ip_len(&ip, pkt);
    if !ip.v6 {
        fix_ipv4_checksum(&mut pkt[..ip.header_len]);
    }
    let l4 = ip.header_len;
    let (src, dst) = ip.addrs(pkt);
    let partial = checksum::pseudo_header(src, dst, PROTO_TCP, (pkt.len() - l4) as u32);
    put16(pkt, l4 + 16, checksum::fold(partial));
    VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: if ip.v6 { GSO_TCPV6 } else { GSO_TCPV4 },
        hdr_len: (flow.ip_len + flow.tcp_len) as u16,
        gso_size: flow.gso_size as u16,
        csum_start: l4 as u16,
        csum_offset: 16,
    }
}
