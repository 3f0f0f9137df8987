//! A bar's A/B variants: each has a name unique within the bar, a traffic weight and its
//! own content. Checks and writes happen in one transaction with the bar locked, and a
//! unique index on live names backs the check up.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, SqlErr};
use serde::Deserialize;
use utoipa::ToSchema;

use super::bars::{DEFAULT_WEIGHT, MAX_WEIGHT, check_name, settings_of};
use super::content::{content_of, default_content, with_content_fields, write_content};
use super::{Catalog, check_room};
use crate::db::catalog as q;
use crate::db::entities::{bar, variant};
use crate::domain::Invalid;
use crate::domain::bar::check_variant;
use crate::error::{Error, Result};
use crate::plans::Limits;

/// barkeep's own cap, whatever the plan.
pub const MAX_VARIANTS: u64 = 10;

with_content_fields! {
    /// The fields of a variant a request may set, all optional; a new variant copies what
    /// is left out from the bar's first variant.
    #[derive(Debug, Default, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct VariantInput {
        /// Unique within the bar; by default the next free letter.
        pub name: Option<String>,
        /// Share of traffic relative to the other variants, 0 to 1000; 0 keeps the
        /// variant off the page.
        pub weight: Option<u16>,
    }
}

fn check_weight(w: u16) -> Result<u16, Invalid> {
    if w > MAX_WEIGHT {
        return Err(Invalid::new(
            "weight",
            format!("a weight is 0 to {MAX_WEIGHT}; 0 keeps the variant off the page"),
        ));
    }
    Ok(w)
}

/// "A", "B", … then "Variant 27".
fn next_variant_name(existing: &[variant::Model]) -> String {
    ('A'..='Z')
        .map(String::from)
        .find(|n| !existing.iter().any(|v| v.name.eq_ignore_ascii_case(n)))
        .unwrap_or_else(|| format!("Variant {}", existing.len() + 1))
}

fn name_taken(name: &str) -> Error {
    Error::conflict(
        "variant_name_taken",
        format!("this bar already has a variant named {name}"),
    )
}

/// The unique index on live names caught a clash the check before it could not see.
fn named(err: sea_orm::DbErr, name: &str) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => name_taken(name),
        _ => err.into(),
    }
}

impl Catalog {
    pub async fn variants(&self, b: &bar::Model) -> Result<Vec<variant::Model>> {
        Ok(q::variants_of(&self.db, &[b.id]).await?)
    }

    /// Adds a variant; what the request leaves out is copied from the bar's first variant.
    pub async fn create_variant(
        &self,
        b: &bar::Model,
        limits: &Limits,
        input: VariantInput,
    ) -> Result<variant::Model> {
        let weight = check_weight(input.weight.unwrap_or(DEFAULT_WEIGHT))?;
        let given_name = input
            .name
            .as_deref()
            .map(|n| check_name(n, "name"))
            .transpose()?;
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        q::lock_bar(&txn, b.id).await?;
        let existing = q::variants_of(&txn, &[b.id]).await?;
        check_room(
            "variants",
            limits.variants_per_bar,
            MAX_VARIANTS,
            existing.len() as u64,
        )?;
        let base = existing
            .first()
            .map(content_of)
            .unwrap_or_else(default_content);
        let content = check_variant(settings_of(b).goal, input.content().apply(base))?;
        let name = given_name.unwrap_or_else(|| next_variant_name(&existing));
        if existing.iter().any(|v| v.name.eq_ignore_ascii_case(&name)) {
            return Err(name_taken(&name));
        }
        let mut v = variant::ActiveModel {
            bar_id: Set(b.id),
            name: Set(name.clone()),
            weight: Set(i32::from(weight)),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        };
        write_content(&mut v, content);
        let v = v.insert(&txn).await.map_err(|e| named(e, &name))?;
        txn.commit().await?;
        Ok(v)
    }

    pub async fn update_variant(
        &self,
        b: &bar::Model,
        v: variant::Model,
        input: VariantInput,
    ) -> Result<variant::Model> {
        let content = check_variant(settings_of(b).goal, input.content().apply(content_of(&v)))?;
        let name = input
            .name
            .as_deref()
            .map(|n| check_name(n, "name"))
            .transpose()?;
        let weight = input.weight.map(check_weight).transpose()?;
        let txn = crate::db::begin(&self.db).await?;
        q::lock_bar(&txn, b.id).await?;
        if let Some(name) = &name {
            let others = q::variants_of(&txn, &[b.id]).await?;
            if others
                .iter()
                .any(|o| o.id != v.id && o.name.eq_ignore_ascii_case(name))
            {
                return Err(name_taken(name));
            }
        }
        let mut active: variant::ActiveModel = v.into();
        write_content(&mut active, content);
        if let Some(name) = &name {
            active.name = Set(name.clone());
        }
        if let Some(w) = weight {
            active.weight = Set(i32::from(w));
        }
        active.updated_at = Set(self.clock.now());
        let v = active
            .update(&txn)
            .await
            .map_err(|e| named(e, name.as_deref().unwrap_or("")))?;
        txn.commit().await?;
        Ok(v)
    }

    /// Removes a variant from the bar (its deployments and counts stay). A bar keeps at
    /// least one variant. Like every edit, it reaches visitors on the next publish.
    pub async fn delete_variant(&self, b: &bar::Model, v: variant::Model) -> Result<()> {
        let txn = crate::db::begin(&self.db).await?;
        q::lock_bar(&txn, b.id).await?;
        if q::variants_of(&txn, &[b.id]).await?.len() <= 1 {
            return Err(Error::conflict(
                "last_variant",
                "a bar needs at least one variant; delete the bar instead",
            ));
        }
        q::soft_delete_variant(&txn, v.id, self.clock.now()).await?;
        txn.commit().await?;
        Ok(())
    }
}
