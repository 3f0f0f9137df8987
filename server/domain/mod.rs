//! Domain newtypes: values that can only be built through `parse`, so code that holds
//! one knows it is valid.

mod email;
mod industry;
mod password;

pub use email::Email;
pub use industry::{INDUSTRIES, Industry};
pub use password::{MIN_CHARS as PASSWORD_MIN_CHARS, Password};
