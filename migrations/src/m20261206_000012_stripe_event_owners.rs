//! Each Stripe event records whom it is about: the Stripe customer its object names and,
//! once known, the member that customer belongs to, so that erasure and the export find
//! a member's events by id rather than by searching their text. Erased customers are
//! remembered only as hashes of their ids, so an event that arrives for one later is
//! recorded without its content.
//!
//! Existing events get the customer read from their payload (`data.object.customer`,
//! or the object's own id when it is a customer) and the member of that customer, from
//! `billing_customers` or else from `subscriptions`.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite: the customer id an event's payload names (NULL when it names none, or the
/// payload is not JSON).
const SQLITE_BACKFILL: &str = "UPDATE stripe_events SET stripe_customer_id = NULLIF(CASE \
       WHEN json_valid(payload) = 0 THEN NULL \
       WHEN json_extract(payload, '$.data.object.object') = 'customer' THEN json_extract(payload, '$.data.object.id') \
       WHEN json_type(payload, '$.data.object.customer') = 'text' THEN json_extract(payload, '$.data.object.customer') \
       WHEN json_type(payload, '$.data.object.customer') = 'object' THEN json_extract(payload, '$.data.object.customer.id') \
     END, '')";

/// PostgreSQL: the same; a payload that is not valid `jsonb` (say, one holding `\u0000`)
/// is left without a customer rather than failing the migration.
const POSTGRES_BACKFILL: &str = r#"
DO $$
DECLARE
  r record;
  o jsonb;
  c text;
BEGIN
  FOR r IN SELECT id, payload FROM stripe_events LOOP
    BEGIN
      o := r.payload::jsonb -> 'data' -> 'object';
    EXCEPTION WHEN others THEN
      CONTINUE;
    END;
    c := CASE
      WHEN jsonb_typeof(o) <> 'object' THEN NULL
      WHEN o ->> 'object' = 'customer' THEN o ->> 'id'
      WHEN jsonb_typeof(o -> 'customer') = 'string' THEN o ->> 'customer'
      WHEN jsonb_typeof(o -> 'customer') = 'object' THEN o -> 'customer' ->> 'id'
    END;
    IF c IS NOT NULL AND c <> '' THEN
      UPDATE stripe_events SET stripe_customer_id = c WHERE id = r.id;
    END IF;
  END LOOP;
END
$$
"#;

/// Both: the member of each event's customer.
const MEMBER_BACKFILL: &str = "UPDATE stripe_events SET member_id = COALESCE(\
       (SELECT c.member_id FROM billing_customers c WHERE c.stripe_customer_id = stripe_events.stripe_customer_id), \
       (SELECT MIN(s.member_id) FROM subscriptions s WHERE s.stripe_customer_id = stripe_events.stripe_customer_id)) \
     WHERE stripe_customer_id IS NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            string_null(StripeEvents::StripeCustomerId).to_owned(),
            big_integer_null(StripeEvents::MemberId).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(StripeEvents::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        for (name, col) in [
            ("idx_stripe_events_customer", StripeEvents::StripeCustomerId),
            ("idx_stripe_events_member", StripeEvents::MemberId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(StripeEvents::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }

        let db = manager.get_connection();
        db.execute_unprepared(if manager.get_database_backend() == DbBackend::Postgres {
            POSTGRES_BACKFILL
        } else {
            SQLITE_BACKFILL
        })
        .await?;
        db.execute_unprepared(MEMBER_BACKFILL).await?;

        manager
            .create_table(
                Table::create()
                    .table(ErasedStripeCustomers::Table)
                    .col(string(ErasedStripeCustomers::CustomerHash).primary_key())
                    .col(timestamp_with_time_zone(ErasedStripeCustomers::ErasedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ErasedStripeCustomers::Table).to_owned())
            .await?;
        for name in ["idx_stripe_events_customer", "idx_stripe_events_member"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(StripeEvents::Table)
                        .to_owned(),
                )
                .await?;
        }
        for col in [StripeEvents::MemberId, StripeEvents::StripeCustomerId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(StripeEvents::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum StripeEvents {
    Table,
    StripeCustomerId,
    MemberId,
}

#[derive(DeriveIden, Clone, Copy)]
enum ErasedStripeCustomers {
    Table,
    CustomerHash,
    ErasedAt,
}
