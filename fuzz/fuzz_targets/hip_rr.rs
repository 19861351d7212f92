//! Fuzz the HIP RR (RFC 8005 section 5) and the DNS answer checks: parsing
//! RDATA, its text forms, and whole response messages must never panic, and
//! an RDATA that parses must re-encode to the same octets.
#![no_main]

use libfuzzer_sys::fuzz_target;

use hip_dns::{HipRdata, Name, PeerRecord, QueryType};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 3 {
        0 => {
            if let Ok(r) = HipRdata::parse(rest) {
                assert_eq!(r.emit().unwrap(), rest);
                let _ = hip_dns::verify_hit(&r);
                let _ = HipRdata::from_presentation(&r.to_presentation());
            }
        }
        1 => {
            if let Ok(s) = std::str::from_utf8(rest) {
                let _ = HipRdata::from_presentation(s);
                let _ = HipRdata::from_generic(s);
            }
        }
        _ => {
            let name = Name::from_ascii("host.grid.example.").unwrap();
            let id = rest.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            for t in [QueryType::Hip, QueryType::A, QueryType::Aaaa] {
                if let Ok(ans) = hip_dns::parse_response(id, &name, t, rest) {
                    let _ = PeerRecord::from_hip_answer(&name, &ans);
                }
            }
        }
    }
});
