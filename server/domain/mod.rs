//! Domain newtypes and rules: values that can only be built through `parse`, so code
//! that holds one knows it is valid. Nothing here touches the database or HTTP; a broken
//! rule comes back as an [`Invalid`].

mod address_block;
pub mod allocation;
pub mod audience;
pub mod bar;
mod colour;
mod counts;
pub mod element;
mod email;
mod hostname;
pub mod ids;
mod industry;
mod invalid;
mod password;
mod role;
mod secret;
pub mod site_goal;
mod site_key;
pub mod text;
pub mod translation;
mod url;

pub use address_block::AddressBlock;
pub use allocation::Allocation;
pub use colour::{Colour, MIN_CONTRAST};
pub use counts::Counts;
pub use email::Email;
pub use hostname::Hostname;
pub use ids::{
    AccountId, BarId, DeploymentId, InvitationId, MemberId, SessionId, SiteId, TokenId, VariantId,
};
pub use industry::{INDUSTRIES, Industry};
pub use invalid::{Invalid, misfit_field};
pub use password::{MIN_CHARS as PASSWORD_MIN_CHARS, Password};
pub use role::Role;
pub use secret::Secret;
pub use site_key::SiteKey;
pub use url::SafeUrl;

/// Tells "absent" (leave as is) from `null` (clear) in a request body: with
/// `#[serde(default, deserialize_with = "present")]`, an absent field is `None` and a
/// `null` one `Some(None)`.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}
