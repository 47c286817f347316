//! The integration tests: the real binary (and, for cycles at chosen moments, the engine in
//! process) against the simulated Feishu. One test binary, one link; one file per area.
// Tests read the real clock and open the database directly, as an operator would.
#![allow(clippy::disallowed_methods)]

// First: its `both_backends!` is used by the files after it.
#[macro_use]
mod helpers;

mod house;

mod away;
mod bot;
mod check;
mod console;
mod cycle;
mod daemon;
mod decide;
mod digest;
mod documents;
mod edges;
mod engine;
mod escalation;
mod faults;
mod flood;
mod language;
mod listing;
mod moves;
mod network;
mod quota;
mod rules;
mod secrets;
mod stop;
mod teams;
mod two_hosts;
mod upgrade;
