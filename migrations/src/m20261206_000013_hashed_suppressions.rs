//! Suppressed addresses are kept only as a keyed hash of the address (HMAC-SHA256 of the
//! lowercased address, in hex, under a key derived from the server's secret), so a bounce
//! that arrives after an account was erased does not bring its address back; and the
//! last email of an erased account keeps no address once it is given up.
//!
//! The key is the server's (its environment or its data folder), which migrations do not
//! see: the server hashes every suppression still holding an address when it starts
//! (`barkeep::mail::hash_plain_suppressions`; a hash has no `@`), which also catches rows
//! written by a process of the previous version during an upgrade. The column keeps its
//! name and type. This migration does what needs no key: the given-up last emails of
//! erased accounts lose their address, subject and bodies, and the error and bounce
//! reasons recorded for them that name the address are cleared.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// An erased account's last email (`after_send = 'delete'`) that will never be sent.
const GIVEN_UP: &str =
    "o.after_send = 'delete' AND o.status IN ('failed', 'skipped') AND o.to_address <> ''";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "UPDATE email_events SET reason = NULL \
             WHERE reason IS NOT NULL AND outbox_id IN (\
               SELECT o.id FROM outbox o WHERE {GIVEN_UP} \
               AND lower(email_events.reason) LIKE '%' || lower(o.to_address) || '%')"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "UPDATE outbox SET last_error = NULL \
             WHERE last_error IS NOT NULL AND id IN (\
               SELECT o.id FROM outbox o WHERE {GIVEN_UP} \
               AND lower(o.last_error) LIKE '%' || lower(o.to_address) || '%')"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "UPDATE outbox SET to_address = '', subject = '', body_text = '', body_html = '', links = NULL \
             WHERE id IN (SELECT o.id FROM outbox o WHERE {GIVEN_UP})"
        ))
        .await?;
        Ok(())
    }

    /// Hashes cannot be turned back into addresses, nor blanked rows filled again: after
    /// going back, the previous version finds no suppression under a hash (until the
    /// address bounces again).
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
