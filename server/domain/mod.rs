//! Domain newtypes and rules: values that can only be built through `parse`, so code
//! that holds one knows it is valid.

pub mod bar;
mod colour;
mod email;
mod hostname;
mod industry;
mod password;
mod site_key;
mod url;

pub use colour::{Colour, MIN_CONTRAST};
pub use email::Email;
pub use hostname::Hostname;
pub use industry::{INDUSTRIES, Industry};
pub use password::{MIN_CHARS as PASSWORD_MIN_CHARS, Password};
pub use site_key::SiteKey;
pub use url::SafeUrl;
