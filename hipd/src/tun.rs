//! The TUN device carrying HIT (IPv6) and LSI (IPv4) traffic (RFC 7401 section 3.1
//! "HIT as IPv6 address", RFC 5338 LSIs). Opened with TUNSETIFF, IFF_TUN|IFF_NO_PI.
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
// include/uapi/linux/if_tun.h: IFF_*, _IOW('T', 208, unsigned int),
// _IOW('T', 216, int) and the TUN_F_* offload bits (USO since Linux 6.2).
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
const IFF_VNET_HDR: libc::c_short = 0x4000;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const TUNSETVNETHDRSZ: libc::c_ulong = 0x4004_54d8;
const TUN_F_CSUM: libc::c_uint = 0x01;
const TUN_F_TSO4: libc::c_uint = 0x02;
const TUN_F_TSO6: libc::c_uint = 0x04;
const TUN_F_USO4: libc::c_uint = 0x20;
const TUN_F_USO6: libc::c_uint = 0x40;

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// An open TUN device.
pub struct Tun {
    fd: AsyncFd<OwnedFd>,
    name: String,
    offloads: TunOffloads,
}

/// How [`Tun::open_with`] opens a TUN queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunOptions {
    /// `IFF_MULTI_QUEUE`: one descriptor per worker, all opened with the same
    /// name and options (the kernel refuses to mix with single-queue opens).
    pub multi_queue: bool,
    /// `IFF_VNET_HDR`: every read and write starts with a
    /// `struct virtio_net_hdr` ([`crate::offload::vnet`]), its size set to
    /// [`crate::offload::vnet::VNET_HDR_LEN`] with `TUNSETVNETHDRSZ`.
    pub vnet_hdr: bool,
    /// With `vnet_hdr`: ask for checksum and segmentation offloads.
    pub offload: bool,
}

/// What the kernel accepted for a TUN queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunOffloads {
    /// Reads and writes carry a virtio_net_hdr.
    pub vnet_hdr: bool,
    /// `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`: reads may be TCP super-packets
    /// with partial checksums ([`crate::offload::segment()`]), and writes may be
    /// coalesced ones ([`crate::offload::Coalescer`]).
    pub tso: bool,
    /// `TUN_F_USO4 | TUN_F_USO6` as well (Linux 6.2 and later): reads may be
    /// UDP super-packets.
    pub uso: bool,
}

impl Tun {
    /// Creates (or attaches to) TUN device `name`: one plain queue, no
    /// vnet header.
    pub fn open(name: &str) -> std::io::Result<Self> {
        Self::open_with(name, &TunOptions::default())
    }

    /// Creates (or attaches to) TUN device `name` with `opts`; the
    /// offloads the kernel accepted are in [`Tun::offloads`]. Offloads are tried
    /// as wireguard-go's `initFromFlags` (`tun/tun_linux.go`) does: TCP and
    /// UDP segmentation, then TCP only, then none (a refused
    /// `TUNSETOFFLOAD` leaves the previous, initially empty, set).
    pub fn open_with(name: &str, opts: &TunOptions) -> std::io::Result<Self> {
        let mut flags = IFF_TUN | IFF_NO_PI;
        if opts.multi_queue {
            flags |= IFF_MULTI_QUEUE;
        }
        if opts.vnet_hdr {
            flags |= IFF_VNET_HDR;
        }
        let fd = open_queue(name, flags)?;
        let mut offloads = TunOffloads::default();
        if opts.vnet_hdr {
            set_vnet_hdr_size(&fd)?;
            offloads.vnet_hdr = true;
            if opts.offload {
                (offloads.tso, offloads.uso) = negotiate_offloads(&fd);
            }
        }
        // SAFETY: the OwnedFd is moved into the AsyncFd and closed only when it drops.
        let fd = unsafe { AsyncFd::register(fd)? };
        Ok(Tun {
            fd,
            name: name.into(),
            offloads,
        })
    }

    /// The offloads this queue was opened with (none for [`Tun::open`]).
    pub fn offloads(&self) -> TunOffloads {
        self.offloads
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one IP packet (with `vnet_hdr`: a virtio_net_hdr and a packet,
    /// possibly a super-packet of up to 64 KB).
    pub async fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut g = self.fd.readable().await?;
            // SAFETY: buf is valid for buf.len() bytes.
            match g.try_io(|f| {
                let n = unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes one IP packet (delivered to local applications); with
    /// `vnet_hdr` it must start with a virtio_net_hdr.
    pub fn send(&self, pkt: &[u8]) -> std::io::Result<usize> {
        // SAFETY: pkt is valid for pkt.len() bytes.
        let n = unsafe {
            libc::write(
                self.fd.get_ref().as_raw_fd(),
                pkt.as_ptr().cast(),
                pkt.len(),
            )
        };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl Tun {
    /// Writes one plain IP packet; on a queue with `vnet_hdr` it goes out
    /// behind an all-zero virtio_net_hdr (no offload, checksum complete),
    /// gathered with writev(2) so the packet is not copied.
    pub fn send_packet(&self, pkt: &[u8]) -> std::io::Result<usize> {
        if !self.offloads.vnet_hdr {
            return self.send(pkt);
        }
        let hdr = [0u8; crate::offload::vnet::VNET_HDR_LEN];
        let iov = [
            libc::iovec {
                iov_base: hdr.as_ptr() as *mut libc::c_void,
                iov_len: hdr.len(),
            },
            libc::iovec {
                iov_base: pkt.as_ptr() as *mut libc::c_void,
                iov_len: pkt.len(),
            },
        ];
        // SAFETY: both iovecs describe live buffers of the given lengths.
        let n = unsafe { libc::writev(self.fd.get_ref().as_raw_fd(), iov.as_ptr(), 2) };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok((n as usize).saturating_sub(hdr.len()))
        }
    }
}

/// Opens /dev/net/tun and attaches it to interface `name` with `flags`.
fn open_queue(name: &str, flags: libc::c_short) -> std::io::Result<OwnedFd> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    // SAFETY: plain open(2) of a constant path.
    let raw = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh, owned descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF reads/writes a struct ifreq, which IfReq lays out (40 bytes).
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// Sets the vnet header size to that of `struct virtio_net_hdr`.
fn set_vnet_hdr_size(fd: &OwnedFd) -> std::io::Result<()> {
    let size = crate::offload::vnet::VNET_HDR_LEN as libc::c_int;
    // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETVNETHDRSZ as _, &size) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Tries TSO with USO, then TSO alone; returns (tso, uso) as accepted.
fn negotiate_offloads(fd: &OwnedFd) -> (bool, bool) {
    let tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    let set = |bits: libc::c_uint| {
        // SAFETY: TUNSETOFFLOAD takes the flags by value, not through a pointer.
        unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD as _, bits as libc::c_ulong) == 0 }
    };
    if set(tso | TUN_F_USO4 | TUN_F_USO6) {
        (true, true)
    } else {
        (set(tso), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Root only (skips otherwise): a multi-queue TUN with vnet headers gets
    /// TSO from any kernel since 2.6 and USO from 6.2; the device vanishes
    /// when its last queue closes.
    #[tokio::test]
    async fn open_with_offloads_when_root() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            println!("skipping: TUN offload test needs root");
            return;
        }
        let name = format!("hipoff{}", std::process::id() % 100_000);
        let opts = TunOptions {
            multi_queue: true,
            vnet_hdr: true,
            offload: true,
        };
        let q0 = match Tun::open_with(&name, &opts) {
            Ok(t) => t,
            Err(e) => {
                println!("skipping: cannot open a TUN here: {e}");
                return;
            }
        };
        let q1 = Tun::open_with(&name, &opts).expect("second queue");
        assert!(q0.offloads().vnet_hdr && q0.offloads().tso);
        assert_eq!(q0.offloads(), q1.offloads());
        println!("{name}: {:?}", q0.offloads());
        assert!(
            Tun::open(&name).is_err(),
            "single-queue open of a multi-queue device"
        );
        assert_eq!(q0.name(), name);
    }
}
