//! Shared fixtures.

pub mod db;
