//! `--esp-keys`: decrypt ESP packets (RFC 4303, RFC 7402) with SAs given in
//! Wireshark's `esp_sa` UAT format, as shipped with the HIPL captures:
//! `"IPv6","src","dst","0xSPI","AES-CBC [RFC3602]","0xENCKEY","HMAC-SHA-1-96 [RFC2404]","0xAUTHKEY"`.

use std::collections::HashMap;
use std::net::IpAddr;

use hip_esp::{InboundSa, Suite};
use hip_proto::pcap::{self, Transport};
use serde::Serialize;

/// SAs keyed by SPI and outer addresses (HIPL installs one SA per address pair).
pub struct EspKeys {
    sas: HashMap<(u32, IpAddr, IpAddr), InboundSa>,
}

/// One decrypted (or not) ESP packet.
#[derive(Debug, Serialize)]
pub struct EspDecrypt {
    pub frame: usize,
    pub spi: u32,
    /// Sequence number (ESN inferred by the SA).
    pub seq: u64,
    pub next_header: u8,
    /// Inner payload, hex.
    pub inner: String,
    /// Why the packet could not be opened, if it could not.
    pub error: Option<String>,
}

fn suite(enc: &str, auth: &str) -> Result<Suite, String> {
    match (enc, auth) {
        ("AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]") => Ok(Suite::Aes128CbcHmacSha1),
        ("AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]") => Ok(Suite::Aes128CbcHmacSha256),
        ("NULL", "HMAC-SHA-256-128 [RFC4868]") => Ok(Suite::NullHmacSha256),
        _ => Err(format!("unsupported ESP algorithms {enc:?} / {auth:?}")),
    }
}

fn hex_field(f: &str) -> Result<Vec<u8>, String> {
    let h = f.trim_start_matches("0x").trim_start_matches("0X");
    if h.len() % 2 != 0 {
        return Err(format!("odd-length hex {f:?}"));
    }
    (0..h.len())
        .step_by(2)
        .map(|i| {
            h.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| format!("bad hex {f:?}"))
        })
        .collect()
}

impl EspKeys {
    /// Parse an `esp_sa` UAT file (one SA per line, blank and `#` lines ignored).
    pub fn parse(text: &str) -> Result<EspKeys, String> {
        let mut sas = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |e: String| format!("esp keys line {}: {e}", n + 1);
            let f: Vec<&str> = line
                .split(',')
                .map(|x| x.trim().trim_matches('"'))
                .collect();
            if f.len() < 8 {
                return Err(err(format!("{} fields, want 8", f.len())));
            }
            let src: IpAddr = f[1].parse().map_err(|e| err(format!("{e}")))?;
            let dst: IpAddr = f[2].parse().map_err(|e| err(format!("{e}")))?;
            let spi = u32::from_str_radix(f[3].trim_start_matches("0x"), 16)
                .map_err(|e| err(format!("SPI: {e}")))?;
            let s = suite(f[4], f[6]).map_err(err)?;
            let enc = hex_field(f[5]).map_err(err)?;
            let auth = hex_field(f[7]).map_err(err)?;
            let sa = InboundSa::new(spi, s, &enc, &auth).map_err(|e| err(e.to_string()))?;
            sas.insert((spi, src, dst), sa);
        }
        Ok(EspKeys { sas })
    }

    /// Decrypt every ESP packet of a pcap that has a matching SA.
    pub fn decrypt_pcap(&mut self, bytes: &[u8]) -> Result<Vec<EspDecrypt>, String> {
        let cap = pcap::parse(bytes).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for (n, rec) in cap.records.iter().enumerate() {
            let Some(c) = pcap::decode_frame(cap.link_type, rec.data) else {
                continue;
            };
            let esp = match c.transport {
                Transport::Esp(e) | Transport::EspOverUdp { esp: e, .. } => e,
                _ => continue,
            };
            let Some(spi) = esp
                .get(..4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            else {
                continue;
            };
            let mut d = EspDecrypt {
                frame: n + 1,
                spi,
                seq: 0,
                next_header: 0,
                inner: String::new(),
                error: None,
            };
            match self.sas.get_mut(&(spi, c.src, c.dst)) {
                None => d.error = Some("no SA for this SPI and address pair".into()),
                Some(sa) => {
                    let mut buf = esp.to_vec();
                    match sa.open(&mut buf) {
                        Ok(o) => {
                            d.seq = o.seq;
                            d.next_header = o.next_header;
                            d.inner = buf
                                .get(o.payload)
                                .unwrap_or_default()
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect();
                        }
                        Err(e) => d.error = Some(e.to_string()),
                    }
                }
            }
            out.push(d);
        }
        Ok(out)
    }
}
