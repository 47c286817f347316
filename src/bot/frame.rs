//! The long connection's frames: each WebSocket message is one protobuf (proto2) `pbbp2.Frame`.
//! Control frames (method 0) carry pings and pongs; data frames (method 1) carry an event's
//! JSON, possibly in fragments, and each completed one is answered on the same socket.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prost::Message as _;

/// `method`: a ping or a pong.
pub const CONTROL: i32 = 0;
/// `method`: an event (or card callback) and its answer.
pub const DATA: i32 = 1;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Header {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, required, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Frame {
    #[prost(uint64, required, tag = "1")]
    pub seq_id: u64,
    #[prost(uint64, required, tag = "2")]
    pub log_id: u64,
    #[prost(int32, required, tag = "3")]
    pub service: i32,
    #[prost(int32, required, tag = "4")]
    pub method: i32,
    #[prost(message, repeated, tag = "5")]
    pub headers: Vec<Header>,
    #[prost(string, optional, tag = "6")]
    pub payload_encoding: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub payload_type: Option<String>,
    #[prost(bytes = "vec", optional, tag = "8")]
    pub payload: Option<Vec<u8>>,
    #[prost(string, optional, tag = "9")]
    pub log_id_new: Option<String>,
}

impl Frame {
    /// The application ping, sent right after connecting and every ping interval.
    pub fn ping(service_id: i32) -> Frame {
        Frame {
            service: service_id,
            method: CONTROL,
            headers: vec![header("type", "ping")],
            ..Frame::default()
        }
    }

    /// A header's value.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.key == key)
            .map(|h| h.value.as_str())
    }

    /// `type`: `event`, `card`, `ping`, `pong`.
    pub fn kind(&self) -> &str {
        self.header("type").unwrap_or("")
    }

    pub fn encode(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    pub fn decode(bytes: &[u8]) -> Result<Frame, prost::DecodeError> {
        <Frame as prost::Message>::decode(bytes)
    }

    /// The answer to this (completed) data frame: the frame echoed with `biz_rt` added and
    /// the payload `{"code": 200|500, "data": base64 of our JSON}` (no `data` when `None`).
    pub fn answer(&self, code: u16, body: Option<&serde_json::Value>, took: Duration) -> Frame {
        use base64::Engine as _;
        let mut answer = self.clone();
        answer.headers.retain(|h| h.key != "biz_rt");
        answer
            .headers
            .push(header("biz_rt", &took.as_millis().to_string()));
        let mut payload = serde_json::json!({ "code": code, "headers": null });
        if let Some(body) = body {
            payload["data"] = base64::engine::general_purpose::STANDARD
                .encode(body.to_string())
                .into();
        }
        answer.payload = Some(payload.to_string().into_bytes());
        answer
    }
}

pub fn header(key: &str, value: &str) -> Header {
    Header {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

/// A message's parts so far, by `seq`, and when its first part came.
type Parts = (Instant, Vec<Option<Vec<u8>>>);

/// Data frames joined by `message_id` in `seq` order until `sum` have arrived; a message still
/// incomplete after `keep` is dropped.
pub struct Fragments {
    keep: Duration,
    open: HashMap<String, Parts>,
}

impl Fragments {
    pub fn new(keep: Duration) -> Fragments {
        Fragments {
            keep,
            open: HashMap::new(),
        }
    }

    /// The whole payload once the frame completes its message; `None` while parts are missing
    /// (or when the frame's `sum`/`seq` make no sense: it is dropped).
    pub fn add(&mut self, frame: &Frame) -> Option<Vec<u8>> {
        let payload = frame.payload.clone().unwrap_or_default();
        let sum: usize = frame
            .header("sum")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let seq: usize = frame
            .header("seq")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if sum <= 1 {
            return Some(payload);
        }
        if seq >= sum || sum > 1024 {
            return None;
        }
        let now = Instant::now();
        let keep = self.keep;
        self.open
            .retain(|_, (at, _)| now.duration_since(*at) < keep);
        let id = frame.header("message_id").unwrap_or("").to_owned();
        let entry = self
            .open
            .entry(id.clone())
            .or_insert_with(|| (now, vec![None; sum]));
        if entry.1.len() != sum {
            return None;
        }
        entry.1[seq] = Some(payload);
        if entry.1.iter().all(Option::is_some) {
            let (_, parts) = self.open.remove(&id)?;
            return Some(parts.into_iter().flatten().flatten().collect());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields 1–4 are written even when zero (proto2 `required`), and a frame reads back as
    /// it was written.
    #[test]
    fn a_ping_carries_its_required_fields_and_reads_back() {
        let ping = Frame::ping(7);
        let bytes = ping.encode();
        // SeqID 0, LogID 0, service 7, method 0: tags 1–4 present.
        assert_eq!(&bytes[..8], &[0x08, 0, 0x10, 0, 0x18, 7, 0x20, 0]);
        assert_eq!(Frame::decode(&bytes).unwrap(), ping);
        assert_eq!(ping.kind(), "ping");
    }

    #[test]
    fn fragments_join_in_seq_order_and_an_answer_echoes_the_frame() {
        let part = |seq: usize, text: &str| Frame {
            seq_id: 9,
            log_id: 3,
            service: 1,
            method: DATA,
            headers: vec![
                header("type", "event"),
                header("message_id", "m1"),
                header("sum", "3"),
                header("seq", &seq.to_string()),
            ],
            payload: Some(text.as_bytes().to_vec()),
            log_id_new: Some("x".into()),
            ..Frame::default()
        };
        let mut f = Fragments::new(Duration::from_secs(5));
        assert_eq!(f.add(&part(2, "c\"}")), None);
        assert_eq!(f.add(&part(0, "{\"a\":")), None);
        assert_eq!(f.add(&part(1, "\"b")).unwrap(), b"{\"a\":\"bc\"}");
        let answer =
            part(1, "").answer(200, Some(&serde_json::json!({})), Duration::from_millis(12));
        assert_eq!(
            (answer.seq_id, answer.log_id, answer.log_id_new.as_deref()),
            (9, 3, Some("x"))
        );
        assert_eq!(answer.header("biz_rt"), Some("12"));
        let body: serde_json::Value =
            serde_json::from_slice(answer.payload.as_deref().unwrap()).unwrap();
        assert_eq!(body["code"], 200);
        assert_eq!(body["data"], "e30=", "base64 of {{}}");
    }
}
