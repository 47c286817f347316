//! The integration tests: the real binary (and, for cycles at chosen moments, the engine in
//! process) against the simulated Feishu. One test binary, one link; one file per area.

mod check;
mod cycle;
mod daemon;
mod decide;
mod faults;
mod helpers;
mod rules;
mod secrets;
