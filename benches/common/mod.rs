//! Helpers shared by the benchmark binaries: command-line flags and medians.
#![allow(dead_code)] // each benchmark uses what it needs

use std::str::FromStr;
use std::time::Duration;

/// The value after `--name` on the command line, or `default`.
pub fn arg<T: FromStr>(name: &str, default: T) -> T
where
    T::Err: std::fmt::Debug,
{
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.parse().unwrap_or_else(|e| panic!("{name} {v}: {e:?}"))
        })
}

/// The median of some timings (the upper one of an even count).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
