//! A visitor's country from their address, read from an IP-to-country database in
//! MaxMind's format (`BARKEEP_GEOIP_DB`: GeoLite2/GeoIP2 Country, or any database whose
//! records carry `country.iso_code` or `country_code`). The address is looked up and
//! forgotten: nothing of it is kept.

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::domain::audience::is_country;

pub struct Countries {
    reader: maxminddb::Reader<Vec<u8>>,
}

/// The two record shapes in use: MaxMind's (`country.iso_code`) and the flat one of
/// free country databases (`country_code`).
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Country<'a>>,
    #[serde(default)]
    country_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(default)]
    iso_code: Option<&'a str>,
}

impl Countries {
    /// Reads the whole database into memory.
    pub fn open(path: &Path) -> anyhow::Result<Countries> {
        let reader = maxminddb::Reader::open_readfile(path)
            .with_context(|| format!("reading the GeoIP database {}", path.display()))?;
        let countries = Countries { reader };
        // A database that answers nothing for well-spread public addresses is the wrong
        // kind (a city-less ASN database, say): better said at start-up than never.
        let probes = ["8.8.8.8", "1.1.1.1", "9.9.9.9", "2001:4860:4860::8888"];
        if probes
            .iter()
            .filter_map(|p| p.parse().ok())
            .all(|ip| countries.country(ip).is_none())
        {
            anyhow::bail!(
                "the GeoIP database {} gives no country for any well-known address: it must \
                 hold countries (country.iso_code or country_code)",
                path.display()
            );
        }
        Ok(countries)
    }

    /// The ISO 3166 code of the country `ip` is in, when the database knows it.
    pub fn country(&self, ip: IpAddr) -> Option<[u8; 2]> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let found = self.reader.lookup(ip).ok()?;
        let record: Record<'_> = found.decode().ok()??;
        let code = record
            .country
            .and_then(|c| c.iso_code)
            .or(record.country_code)?;
        let code = code.to_ascii_uppercase();
        is_country(&code).then(|| {
            let b = code.as_bytes();
            [b[0], b[1]]
        })
    }
}
