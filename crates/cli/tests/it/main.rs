//! The one integration-test binary: store contract tests on both backends,
//! HTTP flows against a real server, and browser tests in headless Chromium.

mod browser;
mod common;
mod contract;
mod crash;
mod http;
