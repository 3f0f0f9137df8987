use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// What per-client limits count by: an IPv4 address, or the /64 network of an IPv6
/// address. One IPv6 subscriber is usually given a whole /64, so counting by address
/// would let anyone walk around a limit by changing the last 64 bits. IPv4 addresses
/// inside IPv6 (`::ffff:a.b.c.d`) count as the IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressBlock(IpAddr);

impl AddressBlock {
    pub fn of(ip: IpAddr) -> AddressBlock {
        match ip.to_canonical() {
            IpAddr::V4(v4) => AddressBlock(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                AddressBlock(IpAddr::V6(Ipv6Addr::from(bits)))
            }
        }
    }
}

/// `203.0.113.9`, or `2001:db8:1:2::/64`.
impl fmt::Display for AddressBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(s: &str) -> String {
        AddressBlock::of(s.parse().unwrap()).to_string()
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_block() {
        assert_eq!(block("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            block("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(block("2001:db8:1:3::1"), block("2001:db8:1:2::1"));
        assert_eq!(block("203.0.113.9"), "203.0.113.9");
        assert_eq!(block("::ffff:203.0.113.9"), "203.0.113.9");
        assert_ne!(block("203.0.113.9"), block("203.0.113.10"));
    }

    proptest::proptest! {
        #[test]
        fn every_address_of_a_64_is_in_the_same_block(net: u64, a: u64, b: u64) {
            let x = IpAddr::V6(Ipv6Addr::from((u128::from(net) << 64) | u128::from(a)));
            let y = IpAddr::V6(Ipv6Addr::from((u128::from(net) << 64) | u128::from(b)));
            proptest::prop_assert_eq!(AddressBlock::of(x), AddressBlock::of(y));
        }
    }
}
