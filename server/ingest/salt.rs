//! Daily salts for counting unique visitors without identifying anyone: a visitor hash
//! is a keyed hash of (site, IP, user agent) under the day's random salt. Every process
//! uses the same salt through the database; the salt and the day's hashes are deleted
//! after two days, after which a hash can no longer be linked to anyone.

use std::collections::HashMap;
use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::RwLock;

use chrono::{DateTime, Timelike, Utc};
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr};
use siphasher::sip::SipHasher13;

use crate::db::Db;
use crate::db::tables::{DailySalts, IngestBatches, VisitorHashes};
use crate::domain::SiteId;

pub(super) type Salt = [u8; 16];

/// The UTC day number of a time.
pub fn day_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

/// The first second of the hour of a time.
pub fn hour_of(at: DateTime<Utc>) -> i64 {
    at.timestamp() - at.timestamp().rem_euclid(3_600)
}

/// A digest of the connection (IP and user agent) under the day's salt. It lives in
/// memory only, and means nothing without the salt.
pub(super) fn connection_digest(salt: &Salt, ip: IpAddr, user_agent: &str) -> u64 {
    let mut h = SipHasher13::new_with_key(salt);
    match ip {
        IpAddr::V4(v4) => h.write(&v4.octets()),
        IpAddr::V6(v6) => h.write(&v6.octets()),
    }
    h.write_u8(0xff);
    h.write(user_agent.as_bytes());
    h.finish()
}

/// The visitor hash that is stored: per site, so one visitor on two sites cannot be
/// linked.
pub(super) fn visitor_hash(salt: &Salt, site_id: SiteId, digest: u64) -> i64 {
    let mut h = SipHasher13::new_with_key(salt);
    h.write_i64(site_id.0);
    h.write_u64(digest);
    h.finish() as i64
}

#[derive(Default)]
pub struct Salts {
    by_day: RwLock<HashMap<i64, Salt>>,
}

impl Salts {
    pub fn get(&self, day: i64) -> Option<Salt> {
        self.by_day
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&day)
            .copied()
    }

    /// Makes sure today's salt exists (and tomorrow's, in the last hour of the day, so
    /// midnight never finds a process without one) and loads them. Every process does
    /// this; whoever asks first makes the salt.
    pub async fn load(&self, db: &Db, now: DateTime<Utc>) -> Result<(), DbErr> {
        let today = day_of(now);
        let mut days = vec![today];
        if now.hour() == 23 {
            days.push(today + 1);
        }
        let mut loaded = HashMap::new();
        for day in days {
            loaded.insert(day, ensure(db, day, now).await?);
        }
        {
            let mut map = self.by_day.write().unwrap_or_else(|e| e.into_inner());
            map.retain(|day, _| *day >= today - 1);
            map.extend(loaded);
        }
        Ok(())
    }
}

/// Deletes what is two days old: salts, visitor hashes, and the record of written
/// batches. After this, yesterday's hashes can never be linked to anyone.
pub async fn purge(db: &Db, now: DateTime<Utc>) -> Result<(), DbErr> {
    let oldest_kept = day_of(now) - 1;
    db.execute(
        &Query::delete()
            .from_table(DailySalts::Table)
            .and_where(Expr::col(DailySalts::Day).lt(oldest_kept))
            .to_owned(),
    )
    .await?;
    db.execute(
        &Query::delete()
            .from_table(VisitorHashes::Table)
            .and_where(Expr::col(VisitorHashes::Day).lt(oldest_kept))
            .to_owned(),
    )
    .await?;
    db.execute(
        &Query::delete()
            .from_table(IngestBatches::Table)
            .and_where(Expr::col(IngestBatches::CreatedAt).lt(now - chrono::Duration::days(2)))
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// The salt of `day`: made by whichever process asks first, read by the others.
async fn ensure(db: &Db, day: i64, now: DateTime<Utc>) -> Result<Salt, DbErr> {
    let mut fresh = [0u8; 16];
    rand::rng().fill_bytes(&mut fresh);
    let hex: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
    db.execute(
        &Query::insert()
            .into_table(DailySalts::Table)
            .columns([DailySalts::Day, DailySalts::Salt, DailySalts::CreatedAt])
            .values_panic([day.into(), hex.into(), now.into()])
            .on_conflict(OnConflict::column(DailySalts::Day).do_nothing().to_owned())
            .to_owned(),
    )
    .await?;
    let row = db
        .query_one(
            &Query::select()
                .column(DailySalts::Salt)
                .from(DailySalts::Table)
                .and_where(Expr::col(DailySalts::Day).eq(day))
                .to_owned(),
        )
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("salt of day {day}")))?;
    let stored: String = row.try_get("", "salt")?;
    let mut salt = [0u8; 16];
    for (i, byte) in salt.iter_mut().enumerate() {
        *byte = stored
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(|| DbErr::Custom(format!("the salt of day {day} is damaged")))?;
    }
    Ok(salt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_visitor_one_hash_per_site_and_salt() {
        let salt = [7u8; 16];
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let ua = "Mozilla/5.0";
        let hash =
            |salt: &Salt, site, ip, ua| visitor_hash(salt, site, connection_digest(salt, ip, ua));
        let a = hash(&salt, SiteId(1), ip, ua);
        assert_eq!(a, hash(&salt, SiteId(1), ip, ua));
        assert_ne!(
            a,
            hash(&salt, SiteId(2), ip, ua),
            "no tracking across sites"
        );
        assert_ne!(
            a,
            hash(&[8u8; 16], SiteId(1), ip, ua),
            "a new salt, a new hash"
        );
        assert_ne!(
            a,
            hash(&salt, SiteId(1), "203.0.113.6".parse().unwrap(), ua)
        );
        assert_ne!(a, hash(&salt, SiteId(1), ip, "Mozilla/5.1"));
    }

    #[test]
    fn hours_and_days_are_utc() {
        let t: DateTime<Utc> = "2026-11-22T13:45:10Z".parse().unwrap();
        assert_eq!(
            hour_of(t),
            "2026-11-22T13:00:00Z"
                .parse::<DateTime<Utc>>()
                .unwrap()
                .timestamp()
        );
        assert_eq!(
            day_of(t) * 86_400,
            "2026-11-22T00:00:00Z"
                .parse::<DateTime<Utc>>()
                .unwrap()
                .timestamp()
        );
    }
}
