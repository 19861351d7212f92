//! Master-file lines (RFC 1035 section 5) that publish a host by hand.

use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::hip_rr::{fqdn_text, HipRdata, HipRrError};

/// The zone-file lines for `name`: the HIP RR in its presentation form
/// (RFC 8005 section 6), the same RR in the RFC 3597 generic form (for
/// servers without HIP support; use one of the two, not both, as they are
/// the same RR), then one AAAA or A line per locator. Owners are absolute,
/// TTL and class left to the zone's defaults.
pub fn zone_lines(
    name: &Name,
    hip: &HipRdata,
    locators: &[IpAddr],
) -> Result<Vec<String>, HipRrError> {
    let owner = fqdn_text(name);
    let mut lines = vec![
        format!("{owner} IN {}", hip.to_presentation()),
        format!("{owner} IN {}", hip.to_generic()?),
    ];
    for a in locators {
        lines.push(match a {
            IpAddr::V6(v6) => format!("{owner} IN AAAA {v6}"),
            IpAddr::V4(v4) => format!("{owner} IN A {v4}"),
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back() {
        let (_, r) = crate::lookup::tests::sample();
        let name = Name::from_ascii("host.grid.example").unwrap();
        let addrs: [IpAddr; 2] = ["2001:db8::1".parse().unwrap(), "192.0.2.1".parse().unwrap()];
        let lines = zone_lines(&name, &r, &addrs).unwrap();
        assert_eq!(lines.len(), 4);
        let p = lines[0].strip_prefix("host.grid.example. IN ").unwrap();
        assert_eq!(HipRdata::from_presentation(p).unwrap(), r);
        let g = lines[1].strip_prefix("host.grid.example. IN ").unwrap();
        assert_eq!(HipRdata::from_generic(g).unwrap(), r);
        assert_eq!(lines[2], "host.grid.example. IN AAAA 2001:db8::1");
        assert_eq!(lines[3], "host.grid.example. IN A 192.0.2.1");
    }
}
