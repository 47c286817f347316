//! Reading Feishu's JSON leniently, with serde: a number where a string is documented, a
//! missing optional field or an unknown extra one never costs the rest of the page. After this
//! module nothing sees JSON.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// One task as listed for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTask {
    pub task_id: String,
    pub instance_id: Option<String>,
    /// (language code, text), in the order Feishu gave them.
    pub labels: Vec<(String, String)>,
    pub status: Option<String>,
    pub initiator_id: Option<String>,
    pub initiator_name: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    /// What the listing said of the task, hashed: see [`Entry::fingerprint`].
    pub fingerprint: u64,
}

/// One page of a listing: its entries by id and text hash, each decoded in full only when
/// asked for.
///
/// A steady listing mostly repeats what is stored; telling that needs only each entry's id and
/// a hash of its text, so the fields of an unchanged task are never taken apart.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The total the platform reports for the whole listing, when it gave a readable one.
    pub count: Option<u64>,
    /// The entries with a usable task id, in the listing's order.
    pub entries: Vec<Entry>,
    /// Entries that could not be read (no usable task id, not an object): the listing that
    /// holds them is not complete.
    pub skipped: usize,
    /// The page's `data` text, which the entries point into.
    text: Bytes,
}

/// One entry of a listing page.
#[derive(Debug, Clone)]
pub struct Entry {
    pub task_id: String,
    /// xxh3 of the entry's JSON text as Feishu sent it: equal fingerprints mean the listing said
    /// the same of the task. It is stored with the task; a listing whose entry hashes the same
    /// needs no write. (Text that differs only in layout costs one needless rewrite.)
    pub fingerprint: u64,
    span: Range<usize>,
    /// The task, when the page was decoded in full.
    task: Option<ListedTask>,
}

impl Page {
    /// The whole task behind `entry` (an entry taken out of this page), decoded from its text
    /// unless the page was decoded in full.
    pub fn task(&self, entry: &mut Entry) -> ListedTask {
        if let Some(task) = entry.task.take() {
            return task;
        }
        let raw = &self.text[entry.span.clone()];
        let wire = serde_json::from_slice::<Obj<WireTask>>(raw)
            .ok()
            .and_then(|o| o.0)
            .unwrap_or_default();
        wire.into_listed(entry.task_id.clone(), entry.fingerprint)
    }

    /// Every task of the page, decoded.
    pub fn tasks(mut self) -> Vec<ListedTask> {
        let mut entries = std::mem::take(&mut self.entries);
        entries.iter_mut().map(|e| self.task(e)).collect()
    }
}

/// A listing page as it came, decoded only when needed: a page whose answer is the same as
/// last time needs no decoding.
#[derive(Debug)]
pub struct RawPage {
    answer: Answer,
}

impl RawPage {
    pub fn new(answer: Answer) -> RawPage {
        RawPage { answer }
    }

    /// xxh3 of the whole answer body.
    pub fn hash(&self) -> u64 {
        self.answer.hash
    }

    /// Reads the page; see [`decode_page`].
    pub fn decode(self, full: bool) -> Result<Page, String> {
        decode_page(self.answer.data(), full)
    }
}

/// A successful answer (code 0): the body as received, its hash, and where its `data` sits.
#[derive(Debug)]
pub struct Answer {
    body: Bytes,
    /// xxh3 of `body`.
    pub hash: u64,
    data: DataPlace,
    // The token endpoint puts its fields at the top level.
    pub tenant_access_token: Option<String>,
    pub expire: Option<i64>,
}

#[derive(Debug, Clone)]
enum DataPlace {
    At(Range<usize>),
    Null,
    /// The body is one read before (it hashed the same); found when asked for.
    Unread,
}

impl Answer {
    /// Reads `body`: `Err` with what could be read (maybe nothing) when it is not an
    /// envelope with code 0.
    pub fn read(body: Bytes, hash: u64) -> Result<Answer, (Option<i64>, Option<String>)> {
        let Ok(env) = serde_json::from_slice::<Envelope<'_>>(&body) else {
            return Err((None, None));
        };
        if env.code != Some(0) {
            return Err((env.code, env.msg));
        }
        // `data` borrows from `body`: its place is where its text starts.
        let data = match env.data {
            Some(d) => {
                let start = d.get().as_ptr() as usize - body.as_ptr() as usize;
                DataPlace::At(start..start + d.get().len())
            }
            None => DataPlace::Null,
        };
        let (tenant_access_token, expire) = (env.tenant_access_token, env.expire);
        Ok(Answer {
            body,
            hash,
            data,
            tenant_access_token,
            expire,
        })
    }

    /// A body that hashes as one already read as a code-0 answer: the same bytes, so the same
    /// answer. Nothing is parsed until its `data` is asked for.
    pub fn seen(body: Bytes, hash: u64) -> Answer {
        Answer {
            body,
            hash,
            data: DataPlace::Unread,
            tenant_access_token: None,
            expire: None,
        }
    }

    /// The text of `data` (`null` when the answer had none), sharing the body's buffer.
    pub fn data(&self) -> Bytes {
        let place = match &self.data {
            DataPlace::Unread => match Answer::read(self.body.clone(), self.hash) {
                Ok(read) => read.data,
                Err(_) => DataPlace::Null,
            },
            known => known.clone(),
        };
        match place {
            DataPlace::At(r) => self.body.slice(r),
            DataPlace::Null | DataPlace::Unread => Bytes::from_static(b"null"),
        }
    }
}

/// The envelope every response shares; `data` stays text, decoded by the caller.
#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(default, deserialize_with = "lenient_i64")]
    code: Option<i64>,
    #[serde(default, deserialize_with = "lenient_string")]
    msg: Option<String>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "lenient_string")]
    tenant_access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    expire: Option<i64>,
}

fn lenient_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(as_i64(&Value::deserialize(d)?))
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(as_string(&Value::deserialize(d)?))
}

/// A string, or a number written as one.
pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads the `data` of a user_task/query answer: the count (when readable), and each entry's
/// id, hash and place in the text. An entry is decoded in full when asked for — or, with
/// `full` (every entry will be asked for), at once. Text that is not a JSON object with a list
/// of tasks fails the page; an entry that cannot be read is counted in `skipped`.
pub fn decode_page(data: Bytes, full: bool) -> Result<Page, String> {
    let text = std::str::from_utf8(&data).map_err(|e| format!("`data` is not UTF-8: {e}"))?;
    if !text.trim_start().starts_with('{') {
        return Err(format!(
            "`data` is not an object: {}",
            text.chars().take(80).collect::<String>()
        ));
    }
    let wire: WirePage<'_> =
        serde_json::from_str(text).map_err(|e| format!("`data` of the listing: {e}"))?;
    // A count that cannot be read is no count: the listing pages on to a short page.
    let count = wire
        .count
        .as_ref()
        .and_then(as_i64)
        .and_then(|c| u64::try_from(c).ok());
    let mut entries = Vec::with_capacity(wire.tasks.0.len());
    let mut skipped = 0;
    for raw in wire.tasks.0 {
        let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let span = start..start + raw.get().len();
        let raw = raw.get().as_bytes();
        let fingerprint = xxhash_rust::xxh3::xxh3_64(raw);
        let (id, task) = if full {
            match serde_task(raw, fingerprint) {
                Some(task) => (Some(task.task_id.clone()), Some(task)),
                None => (None, None),
            }
        } else {
            let id = serde_json::from_slice::<Obj<WireId>>(raw)
                .ok()
                .and_then(|o| o.0)
                .and_then(|w| w.task_id.0)
                .filter(|id| !id.is_empty());
            (id, None)
        };
        match id {
            Some(task_id) => entries.push(Entry {
                task_id,
                fingerprint,
                span,
                task,
            }),
            None => skipped += 1,
        }
    }
    Ok(Page {
        count,
        entries,
        skipped,
        text: data,
    })
}

/// One entry as serde reads it; `None`: no usable id (the entry is dropped).
fn serde_task(raw: &[u8], fingerprint: u64) -> Option<ListedTask> {
    let mut w = serde_json::from_slice::<Obj<WireTask>>(raw).ok()?.0?;
    let id = w.task_id.0.take().filter(|id| !id.is_empty())?;
    Some(w.into_listed(id, fingerprint))
}

#[derive(Deserialize)]
struct WirePage<'a> {
    #[serde(default)]
    count: Option<Value>,
    #[serde(default, borrow)]
    tasks: TaskList<'a>,
}

/// Just the id of a listed entry.
#[derive(Default, Deserialize)]
#[serde(default)]
struct WireId {
    task_id: Lenient<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct WireTask {
    task_id: Lenient<String>,
    task_start_time: Lenient<i64>,
    workflow_instance: Obj<WireInstance>,
    initiator: Obj<WireUser>,
}

impl WireTask {
    fn into_listed(self, task_id: String, fingerprint: u64) -> ListedTask {
        let wf = self.workflow_instance.0.unwrap_or_default();
        let initiator = self.initiator.0.unwrap_or_default();
        ListedTask {
            task_id,
            instance_id: wf.id.0,
            labels: wf
                .label
                .0
                .into_iter()
                .filter_map(|l| {
                    let l = l.0?;
                    Some((l.language_code.0.unwrap_or_default(), l.text.0?))
                })
                .collect(),
            status: wf.status.0,
            initiator_id: initiator.user_id.0.filter(|s| !s.is_empty()),
            initiator_name: initiator.name.0.filter(|s| !s.is_empty()),
            start_time: self.task_start_time.0.and_then(epoch_ms),
            fingerprint,
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct WireInstance {
    id: Lenient<String>,
    label: List<Obj<WireLabel>>,
    status: Lenient<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct WireLabel {
    language_code: Lenient<String>,
    text: Lenient<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct WireUser {
    user_id: Lenient<String>,
    name: Lenient<String>,
}

/// `tasks`: a list, or null/absent for none; anything else is an error. Each entry is kept as
/// its text.
#[derive(Default)]
struct TaskList<'a>(Vec<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for TaskList<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = TaskList<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of tasks")
            }
            fn visit_unit<E>(self) -> Result<TaskList<'a>, E> {
                Ok(TaskList::default())
            }
            fn visit_none<E>(self) -> Result<TaskList<'a>, E> {
                Ok(TaskList::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TaskList<'a>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(50));
                while let Some(t) = seq.next_element()? {
                    out.push(t);
                }
                Ok(TaskList(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A list where one is documented; anything else counts as empty.
#[derive(Default)]
struct List<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(t) = seq.next_element()? {
                    out.push(t);
                }
                Ok(List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<List<T>, A::Error> {
                IgnoredAny::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(List(Vec::new()))
            }
            fn visit_str<E>(self, _: &str) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_u64<E>(self, _: u64) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_unit<E>(self) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An object where one is documented; anything else is `None` (and skipped).
#[derive(Default)]
struct Obj<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|t| Obj(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Obj<T>, A::Error> {
                IgnoredAny::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Obj(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_unit<E>(self) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A scalar read leniently: a string or a number where either is documented; anything else
/// (null, a list, an object) is `None`.
#[derive(Default)]
struct Lenient<T>(Option<T>);

macro_rules! lenient_scalar {
    ($t:ty, $expect:literal, str: $from_str:expr, int: $from_i64:expr, uint: $from_u64:expr, float: $from_f64:expr) => {
        impl<'de> Deserialize<'de> for Lenient<$t> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Lenient<$t>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expect)
                    }
                    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                        Ok(Lenient(($from_str)(v)))
                    }
                    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                        Ok(Lenient(($from_i64)(v)))
                    }
                    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                        Ok(Lenient(($from_u64)(v)))
                    }
                    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                        Ok(Lenient(($from_f64)(v)))
                    }
                    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                        Ok(Lenient(None))
                    }
                    fn visit_unit<E>(self) -> Result<Self::Value, E> {
                        Ok(Lenient(None))
                    }
                    fn visit_none<E>(self) -> Result<Self::Value, E> {
                        Ok(Lenient(None))
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                        IgnoredAny::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                        Ok(Lenient(None))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                        IgnoredAny::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                        Ok(Lenient(None))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

lenient_scalar!(String, "a string",
    str: |v: &str| Some(v.to_owned()),
    int: |v: i64| Some(v.to_string()),
    uint: |v: u64| Some(v.to_string()),
    float: |v: f64| Some(v.to_string()));

lenient_scalar!(i64, "an integer",
    str: |v: &str| v.trim().parse::<i64>().ok(),
    int: Some,
    uint: |v: u64| i64::try_from(v).ok(),
    float: |v: f64| if v.is_finite() { Some(v as i64) } else { None });

/// Epoch milliseconds; a value that only makes sense as seconds is read as seconds.
fn epoch_ms(v: i64) -> Option<DateTime<Utc>> {
    if v <= 0 {
        return None;
    }
    let ms = if v < 100_000_000_000 {
        v.checked_mul(1000)?
    } else {
        v
    };
    Utc.timestamp_millis_opt(ms).single()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::display_label;
    use serde_json::json;

    #[test]
    fn decodes_the_documented_shape() {
        let data = json!({"count": "2", "tasks": [
            {"task_id": "1", "task_start_time": "1730208758000",
             "workflow_instance": {"id": "w1", "label": [{"language_code": "2052", "text": "报销"}, {"language_code": "1033", "text": "Expense"}], "status": "in_process"},
             "initiator": {"user_id": "9", "name": "Li"}, "summarys": []},
            {"task_id": "2"}
        ]});
        let page = decode(&data);
        assert_eq!(page.count, Some(2));
        let tasks = page.tasks();
        assert_eq!(
            tasks,
            decode_page(Bytes::from(data.to_string()), true)
                .unwrap()
                .tasks()
        );
        assert_eq!(tasks.len(), 2);
        let t = &tasks[0];
        assert_eq!(t.instance_id.as_deref(), Some("w1"));
        assert_eq!(t.labels.len(), 2);
        assert_eq!(display_label(&t.labels), "报销");
        assert_eq!(t.initiator_id.as_deref(), Some("9"));
        assert_eq!(t.start_time.unwrap().timestamp_millis(), 1_730_208_758_000);
        assert_eq!(tasks[1].start_time, None);
        assert_eq!(tasks[1].task_id, "2");
    }

    #[test]
    fn lenient_where_the_platform_is_loose() {
        // (case, data, tasks kept, skipped)
        let cases = [
            (
                "numbers for strings",
                json!({"count": 2, "tasks": [{"task_id": 11, "task_start_time": 1730208758000_i64}, {"task_id": "12"}]}),
                2,
                0,
            ),
            (
                "extra fields",
                json!({"count": "1", "extra": {"x": 1}, "tasks": [{"task_id": "1", "new_field": [1, 2]}]}),
                1,
                0,
            ),
            (
                "entry without id",
                json!({"count": "2", "tasks": [{"task_id": ""}, {"task_id": "2"}, "garbage"]}),
                1,
                2,
            ),
            (
                "bad start time",
                json!({"count": "1", "tasks": [{"task_id": "1", "task_start_time": "soon"}]}),
                1,
                0,
            ),
            ("null tasks", json!({"count": "0", "tasks": null}), 0, 0),
            ("missing count", json!({"tasks": [{"task_id": "1"}]}), 1, 0),
        ];
        for (name, data, kept, skipped) in cases {
            for full in [false, true] {
                let page = decode_page(Bytes::from(data.to_string()), full)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    (page.entries.len(), page.skipped),
                    (kept, skipped),
                    "{name}"
                );
                assert_eq!(page.tasks().len(), kept, "{name}");
            }
        }
        // A count that cannot be read is no count.
        for (data, count) in [
            (json!({"count": "x", "tasks": []}), None),
            (json!({"count": null, "tasks": []}), None),
            (json!({"count": -1, "tasks": []}), None),
            (json!({"tasks": []}), None),
            (json!({"count": "7", "tasks": []}), Some(7)),
            (json!({"count": 7.0, "tasks": []}), Some(7)),
        ] {
            assert_eq!(decode(&data).count, count, "{data}");
        }
        for bad in [json!({"count": "1", "tasks": {"a": 1}}), json!([1])] {
            assert!(
                decode_page(Bytes::from(bad.to_string()), false).is_err(),
                "{bad}"
            );
        }
    }

    fn decode(data: &Value) -> Page {
        decode_page(Bytes::from(data.to_string()), false).unwrap()
    }

    #[test]
    fn a_fingerprint_changes_with_what_the_listing_said() {
        let task = json!({"task_id": "1", "task_start_time": "1730208758000",
            "workflow_instance": {"id": "w1", "label": [{"language_code": "2052", "text": "报销"}], "status": "in_process"}});
        let page = |tasks: Vec<Value>| decode(&json!({"count": tasks.len(), "tasks": tasks}));
        let fp = |p: &Page| p.entries[0].fingerprint;
        let base = page(vec![task.clone()]);
        // The same entry on another page, at another place, hashes the same.
        let moved = page(vec![json!({"task_id": "0"}), task.clone()]);
        assert_eq!(moved.entries[1].fingerprint, fp(&base));
        assert_eq!(base.clone().tasks()[0].fingerprint, fp(&base));
        for (what, field, value) in [
            ("label", "/workflow_instance/label/0/text", json!("Expense")),
            ("status", "/workflow_instance/status", json!("done")),
            ("start", "/task_start_time", json!("1730208758001")),
        ] {
            let mut changed = task.clone();
            *changed.pointer_mut(field).unwrap() = value;
            assert_ne!(fp(&page(vec![changed])), fp(&base), "{what}");
        }
    }

    #[test]
    fn an_answer_keeps_its_data_as_text() {
        let body = r#"{"code": 0, "msg": "ok", "data": {"chat_id": "oc_1"}}"#;
        let answer = Answer::read(Bytes::from(body), 1).unwrap();
        assert_eq!(&answer.data()[..], br#"{"chat_id": "oc_1"}"#);
        // A body seen before is read only when its data is asked for, to the same text.
        let seen = Answer::seen(Bytes::from(body), 1);
        assert_eq!(&seen.data()[..], br#"{"chat_id": "oc_1"}"#);
        let answer = Answer::read(Bytes::from(r#"{"code": "0"}"#), 1).unwrap();
        assert_eq!(&answer.data()[..], b"null");
        let refused = r#"{"code": 99991663, "msg": "token expired"}"#;
        assert_eq!(
            Answer::read(Bytes::from(refused), 1).unwrap_err(),
            (Some(99991663), Some("token expired".to_owned()))
        );
        assert_eq!(
            Answer::read(Bytes::from("<html>"), 1).unwrap_err(),
            (None, None)
        );
    }

    #[test]
    fn label_falls_back_to_first_language() {
        let labels = vec![
            ("1033".to_owned(), "Leave".to_owned()),
            ("1041".to_owned(), "休暇".to_owned()),
        ];
        assert_eq!(display_label(&labels), "Leave");
        assert_eq!(display_label(&[]), "");
    }
}
