//! One-line human summaries of HIP parameters.

use hip_proto::wire::{HostIdLayout, ParamRepr};

fn hex_short(b: &[u8]) -> String {
    let h: String = b.iter().take(16).map(|x| format!("{x:02x}")).collect();
    if b.len() > 16 {
        format!("{h}… ({} B)", b.len())
    } else {
        h
    }
}

/// A one-line description of a parameter.
pub fn summarize(p: &ParamRepr) -> String {
    let ty = p.type_number();
    let body = match p {
        ParamRepr::EspInfo(e) => format!(
            "ESP_INFO keymat_index={} old_spi={:#010x} new_spi={:#010x}",
            e.keymat_index, e.old_spi, e.new_spi
        ),
        ParamRepr::R1Counter(c) | ParamRepr::R1CounterV1(c) => format!("R1_COUNTER {c}"),
        ParamRepr::LocatorSet(ls) => {
            let l: Vec<String> = ls
                .iter()
                .map(|l| {
                    format!(
                        "type {} {}{}{}",
                        l.locator_type.value(),
                        l.address()
                            .map_or_else(|| hex_short(&l.data), |a| a.to_string()),
                        l.spi().map_or(String::new(), |s| format!(" spi={s:#010x}")),
                        if l.preferred() { " preferred" } else { "" }
                    )
                })
                .collect();
            format!("LOCATOR_SET [{}]", l.join(", "))
        }
        ParamRepr::Puzzle(p) => format!(
            "PUZZLE K={} lifetime={} opaque={} I={}",
            p.k,
            p.lifetime,
            hex_short(&p.opaque),
            hex_short(&p.i)
        ),
        ParamRepr::Solution(s) => format!(
            "SOLUTION K={} opaque={} I={} J={}",
            s.k,
            hex_short(&s.opaque),
            hex_short(&s.i),
            hex_short(&s.j)
        ),
        ParamRepr::Seq(v) => format!("SEQ update_id={v}"),
        ParamRepr::Ack(v) => format!("ACK {v:?}"),
        ParamRepr::DhGroupList(g) => format!(
            "DH_GROUP_LIST {:?}",
            g.iter().map(|g| g.value()).collect::<Vec<_>>()
        ),
        ParamRepr::DiffieHellman(d) => {
            let v: Vec<String> = d
                .values
                .iter()
                .map(|v| format!("group {} ({} B)", v.group.value(), v.public.len()))
                .collect();
            format!("DIFFIE_HELLMAN {}", v.join(", "))
        }
        ParamRepr::HipTransform(t) => format!(
            "HIP_TRANSFORM {:?}",
            t.iter().map(|t| t.value()).collect::<Vec<_>>()
        ),
        ParamRepr::HipCipher(c) => format!(
            "HIP_CIPHER {:?}",
            c.iter().map(|c| c.value()).collect::<Vec<_>>()
        ),
        ParamRepr::HostId(h) => format!(
            "HOST_ID alg={} layout={} HI {} B DI type {} {:?}",
            h.algorithm.value(),
            match h.layout {
                HostIdLayout::Rfc7401 => "RFC7401",
                HostIdLayout::Rfc5201 { .. } => "RFC5201",
            },
            h.hi.len(),
            h.di_type.value(),
            String::from_utf8_lossy(&h.di).trim_end_matches('\0')
        ),
        ParamRepr::HitSuiteList(l) => format!("HIT_SUITE_LIST {l:02x?}"),
        ParamRepr::TransportFormatList(l) => format!("TRANSPORT_FORMAT_LIST {l:?}"),
        ParamRepr::EspTransform { suites, .. } => {
            format!(
                "ESP_TRANSFORM {:?}",
                suites.iter().map(|s| s.value()).collect::<Vec<_>>()
            )
        }
        ParamRepr::HipMac(m) => format!("HIP_MAC {}", hex_short(m)),
        ParamRepr::HipMac2(m) => format!("HIP_MAC_2 {}", hex_short(m)),
        ParamRepr::HipSignature(s) => {
            format!(
                "HIP_SIGNATURE alg={} {}",
                s.alg.algorithm().value(),
                hex_short(&s.signature)
            )
        }
        ParamRepr::HipSignature2(s) => {
            format!(
                "HIP_SIGNATURE_2 alg={} {}",
                s.alg.algorithm().value(),
                hex_short(&s.signature)
            )
        }
        ParamRepr::EchoRequestSigned(d) => format!("ECHO_REQUEST_SIGNED {}", hex_short(d)),
        ParamRepr::EchoResponseSigned(d) => format!("ECHO_RESPONSE_SIGNED {}", hex_short(d)),
        ParamRepr::EchoRequestUnsigned(d) => format!("ECHO_REQUEST_UNSIGNED {}", hex_short(d)),
        ParamRepr::EchoResponseUnsigned(d) => format!("ECHO_RESPONSE_UNSIGNED {}", hex_short(d)),
        ParamRepr::Notification(n) => {
            format!("NOTIFICATION {:?} {}", n.msg_type, hex_short(&n.data))
        }
        ParamRepr::Unknown { contents, .. } => format!("type {ty} {}", hex_short(contents)),
        other => format!("{other:?}"),
    };
    format!("[{ty}] {body}")
}
