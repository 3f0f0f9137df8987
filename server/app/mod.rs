//! The application shell: configuration from the environment, logging, the table of
//! periodic jobs, and building, running and stopping the whole. It is the only place
//! that knows every subsystem; nothing below imports it.

pub mod config;
pub mod logs;
mod memory;
pub mod schedule;
pub mod startup;

pub use config::{Config, ConfigError};
pub use startup::{Application, OperatorTools, Settings, operator_tools, shutdown_signal};
