//! One type per kind of id, so a bar id can never be passed where a site id is wanted.
//! Each is stored as a 64-bit integer and shown as a plain number.

use std::fmt;

use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            DeriveValueType, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

ids! {
    /// An account several people share: sites, billing and benchmark results belong to
    /// it.
    AccountId,
    /// A person: an email, a password, sessions and tokens, in one or more accounts.
    MemberId,
    /// An invitation to join an account.
    InvitationId,
    /// A member's website.
    SiteId,
    /// A bar on a site.
    BarId,
    /// One A/B alternative of a bar.
    VariantId,
    /// A published, immutable snapshot of one variant.
    DeploymentId,
    /// A login session.
    SessionId,
    /// An API token.
    TokenId,
}
