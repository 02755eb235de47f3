//! The one integration-test binary: store contract tests on both backends,
//! HTTP flows against a real server, and browser tests in headless Chromium.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a failed test.

mod alerts_contract;
mod alerts_http;
mod append_only;
mod browser;
mod browser_alerts;
mod browser_floor;
mod care_pages;
mod cli;
mod common;
mod community;
mod contract;
mod crash;
mod floor_api;
mod floor_contract;
mod floor_http;
mod http;
mod journey;
mod least_privilege;
mod referrals;
mod services;
mod supplies;
mod visit_pages;
