//! The app's bot: Feishu's long connection (the daemon dials out; no public URL needed) and
//! what it carries — card clicks.

pub mod card;
pub mod frame;
pub mod http;
pub mod link;
pub mod send;
