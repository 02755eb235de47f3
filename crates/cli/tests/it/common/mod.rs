//! Shared fixtures.

pub mod db;
pub mod server;
pub mod webdriver;
