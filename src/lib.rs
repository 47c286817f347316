//! expediter: lists the pending Feishu aPaaS tasks of watched users, keeps them in SQLite or
//! PostgreSQL, and expedites (催办) the overdue ones by the team lead's rules, within Feishu's
//! rate limits.

pub mod api_stats;
pub mod bot;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod console;
pub mod cycle;
pub mod daemon;
pub mod digest;
pub mod documents;
pub mod domain;
pub mod fake;
pub mod feishu;
pub mod holds;
pub mod i18n;
pub mod keeper;
pub mod pace;
pub mod plan;
pub mod progress;
pub mod prometheus;
pub mod secret;
pub mod startup;
pub mod store;
pub mod table;
pub mod telemetry;
