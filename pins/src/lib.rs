//! Build-time only: no code. Depending on this crate gives the CLI and the Python extension one
//! feature set for the dependencies they share (see `Cargo.toml`).

#![no_std]
#![forbid(unsafe_code)]
