//! Reading Feishu's JSON leniently, with serde: a number where a string is documented, a
//! missing optional field or an unknown extra one never costs the rest of the page. After this
//! module nothing sees JSON.

use std::ops::Range;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};

use serde::Deserialize;
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
    /// What the listing said of the task, hashed: see [`Entry::text_hash`].
    pub text_hash: u64,
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
    /// xxh3 of the entry's JSON text as Feishu sent it: equal text hashes mean the listing said
    /// the same of the task. It is stored with the task; a listing whose entry hashes the same
    /// needs no write. (Text that differs only in layout costs one needless rewrite.)
    pub text_hash: u64,
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
        // The id was read from this text, so it is an object: its fields are read now.
        match serde_json::from_slice::<WireTask>(raw) {
            Ok(wire) => task_of(&wire, entry.task_id.clone(), entry.text_hash),
            Err(_) => ListedTask {
                task_id: entry.task_id.clone(),
                instance_id: None,
                labels: Vec::new(),
                status: None,
                initiator_id: None,
                initiator_name: None,
                start_time: None,
                text_hash: entry.text_hash,
            },
        }
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
    let raw_entries = wire.tasks.unwrap_or_default();
    let mut entries = Vec::with_capacity(raw_entries.len());
    let mut skipped = 0;
    for raw in raw_entries {
        let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let span = start..start + raw.get().len();
        let raw = raw.get().as_bytes();
        let text_hash = xxhash_rust::xxh3::xxh3_64(raw);
        let (id, task) = if full {
            match serde_task(raw, text_hash) {
                Some(task) => (Some(task.task_id.clone()), Some(task)),
                None => (None, None),
            }
        } else {
            let id = is_object(raw)
                .then(|| serde_json::from_slice::<WireId>(raw).ok())
                .flatten()
                .and_then(|w| as_string(&w.task_id))
                .filter(|id| !id.is_empty());
            (id, None)
        };
        match id {
            Some(task_id) => entries.push(Entry {
                task_id,
                text_hash,
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

/// One entry as serde reads it; `None`: not an object, or no usable id (the entry is counted
/// as unreadable).
fn serde_task(raw: &[u8], text_hash: u64) -> Option<ListedTask> {
    if !is_object(raw) {
        return None;
    }
    let entry: WireTask = serde_json::from_slice(raw).ok()?;
    let task_id = as_string(&entry.task_id).filter(|id| !id.is_empty())?;
    Some(task_of(&entry, task_id, text_hash))
}

/// Is this entry's text an object? (serde reads a struct from a list too, by position.)
fn is_object(raw: &[u8]) -> bool {
    raw.first() == Some(&b'{')
}

/// The fields of an entry that are read; every other field is skipped unread.
#[derive(Deserialize)]
struct WireTask {
    #[serde(default)]
    task_id: Value,
    #[serde(default)]
    task_start_time: Value,
    #[serde(default)]
    workflow_instance: Value,
    #[serde(default)]
    initiator: Value,
}

/// The fields of a listed entry, each read leniently: a field of another shape than documented
/// (a number for a string, an object where a list belongs) counts as absent.
fn task_of(entry: &WireTask, task_id: String, text_hash: u64) -> ListedTask {
    let field = |v: Option<&Value>, key: &str| {
        v.and_then(|v| v.get(key))
            .and_then(as_string)
            .filter(|s| !s.is_empty())
    };
    let wf = Some(&entry.workflow_instance).filter(|v| v.is_object());
    let initiator = Some(&entry.initiator).filter(|v| v.is_object());
    let labels = wf
        .and_then(|w| w.get("label"))
        .and_then(Value::as_array)
        .map(|labels| {
            labels
                .iter()
                .filter(|l| l.is_object())
                .filter_map(|l| {
                    let code = l
                        .get("language_code")
                        .and_then(as_string)
                        .unwrap_or_default();
                    Some((code, l.get("text").and_then(as_string)?))
                })
                .collect()
        })
        .unwrap_or_default();
    ListedTask {
        task_id,
        instance_id: wf.and_then(|w| w.get("id")).and_then(as_string),
        labels,
        status: wf.and_then(|w| w.get("status")).and_then(as_string),
        initiator_id: field(initiator, "user_id"),
        initiator_name: field(initiator, "name"),
        start_time: as_i64(&entry.task_start_time).and_then(epoch_ms),
        text_hash,
    }
}

/// The page inside `data`: `tasks` a list (or null, or absent: none), each entry kept as text.
#[derive(Deserialize)]
struct WirePage<'a> {
    #[serde(default)]
    count: Option<Value>,
    #[serde(default, borrow)]
    tasks: Option<Vec<&'a RawValue>>,
}

/// Just the id of a listed entry; the other fields are skipped unread.
#[derive(Deserialize)]
struct WireId {
    #[serde(default)]
    task_id: Value,
}

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
    fn a_text_hash_changes_with_what_the_listing_said() {
        let task = json!({"task_id": "1", "task_start_time": "1730208758000",
            "workflow_instance": {"id": "w1", "label": [{"language_code": "2052", "text": "报销"}], "status": "in_process"}});
        let page = |tasks: Vec<Value>| decode(&json!({"count": tasks.len(), "tasks": tasks}));
        let fp = |p: &Page| p.entries[0].text_hash;
        let base = page(vec![task.clone()]);
        // The same entry on another page, at another place, hashes the same.
        let moved = page(vec![json!({"task_id": "0"}), task.clone()]);
        assert_eq!(moved.entries[1].text_hash, fp(&base));
        assert_eq!(base.clone().tasks()[0].text_hash, fp(&base));
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

    /// A task as the tenant holds it: what a listing says of it, before any rendering.
    #[derive(Debug, Clone)]
    struct Model {
        task_id: String,
        instance_id: Option<String>,
        labels: Vec<(String, String)>,
        status: Option<String>,
        initiator_id: Option<String>,
        initiator_name: Option<String>,
        start_ms: Option<i64>,
    }

    /// How one entry is written: each choice odd but valid JSON the platform could send.
    #[derive(Debug, Clone)]
    struct Style {
        numbers_for_strings: bool,
        start_as_number: bool,
        nulls_for_absent: bool,
        escape_everything: bool,
        unknown_fields: bool,
        reverse_keys: bool,
        spaces: bool,
    }

    fn text() -> impl proptest::strategy::Strategy<Value = String> {
        // Chinese and English, quotes, backslashes, control characters and non-BMP text.
        proptest::string::string_regex("[a-zA-Z0-9 报销审批请假张三李四\"\\\\/\u{1}\n\t😀𝄞é]{0,12}")
            .unwrap()
    }

    fn model() -> impl proptest::strategy::Strategy<Value = Model> {
        use proptest::prelude::*;
        let label = prop_oneof![Just("2052".to_owned()), Just("1033".to_owned())];
        (
            prop_oneof!["[0-9]{1,15}", "[a-z0-9_-]{1,20}"],
            proptest::option::of("[a-z0-9-]{1,10}"),
            proptest::collection::vec((label, text()), 0..3),
            proptest::option::of(prop_oneof![
                Just("in_process".to_owned()),
                Just("done".to_owned())
            ]),
            proptest::option::of("[0-9]{1,8}"),
            proptest::option::of(text().prop_filter("non-empty", |t| !t.is_empty())),
            proptest::option::of(1_000_000_000_000i64..2_000_000_000_000),
        )
            .prop_map(
                |(task_id, instance_id, labels, status, initiator_id, initiator_name, start_ms)| {
                    Model {
                        task_id,
                        instance_id,
                        labels,
                        status,
                        initiator_id,
                        initiator_name,
                        start_ms,
                    }
                },
            )
    }

    fn style() -> impl proptest::strategy::Strategy<Value = Style> {
        use proptest::prelude::*;
        proptest::collection::vec(any::<bool>(), 7).prop_map(|b| Style {
            numbers_for_strings: b[0],
            start_as_number: b[1],
            nulls_for_absent: b[2],
            escape_everything: b[3],
            unknown_fields: b[4],
            reverse_keys: b[5],
            spaces: b[6],
        })
    }

    /// A JSON string, its characters written as they are or every one as a `\u` escape
    /// (surrogate pairs beyond the BMP).
    fn string(s: &str, style: &Style) -> String {
        if !style.escape_everything {
            return serde_json::to_string(s).unwrap();
        }
        let mut out = String::from("\"");
        for unit in s.encode_utf16() {
            out.push_str(&format!("\\u{unit:04x}"));
        }
        out.push('"');
        out
    }

    fn object(mut fields: Vec<(String, String)>, style: &Style) -> String {
        if style.unknown_fields {
            fields.push((
                "x_new".into(),
                r#"[1, {"deep": [null, "x"]}, 2.5e3]"#.into(),
            ));
        }
        if style.reverse_keys {
            fields.reverse();
        }
        let sep = if style.spaces { " ,\n  " } else { "," };
        let colon = if style.spaces { " : " } else { ":" };
        let body: Vec<String> = fields
            .into_iter()
            .map(|(k, v)| format!("{}{colon}{v}", string(&k, style)))
            .collect();
        format!("{{{}}}", body.join(sep))
    }

    fn optional(
        fields: &mut Vec<(String, String)>,
        key: &str,
        value: Option<String>,
        style: &Style,
    ) {
        match value {
            Some(v) => fields.push((key.into(), v)),
            None if style.nulls_for_absent => fields.push((key.into(), "null".into())),
            None => {}
        }
    }

    fn render(m: &Model, style: &Style) -> String {
        let id = if style.numbers_for_strings
            && m.task_id.bytes().all(|b| b.is_ascii_digit())
            && !m.task_id.starts_with('0')
        {
            m.task_id.clone()
        } else {
            string(&m.task_id, style)
        };
        let mut fields = vec![("task_id".to_owned(), id)];
        optional(
            &mut fields,
            "task_start_time",
            m.start_ms.map(|ms| {
                if style.start_as_number {
                    ms.to_string()
                } else {
                    string(&ms.to_string(), style)
                }
            }),
            style,
        );
        let labels: Vec<String> = m
            .labels
            .iter()
            .map(|(code, t)| {
                let code = if style.numbers_for_strings {
                    code.clone()
                } else {
                    string(code, style)
                };
                object(
                    vec![
                        ("language_code".into(), code),
                        ("text".into(), string(t, style)),
                    ],
                    style,
                )
            })
            .collect();
        let mut wf = vec![("label".to_owned(), format!("[{}]", labels.join(",")))];
        optional(
            &mut wf,
            "id",
            m.instance_id.as_ref().map(|v| string(v, style)),
            style,
        );
        optional(
            &mut wf,
            "status",
            m.status.as_ref().map(|v| string(v, style)),
            style,
        );
        fields.push(("workflow_instance".into(), object(wf, style)));
        let mut who = Vec::new();
        optional(
            &mut who,
            "user_id",
            m.initiator_id.as_ref().map(|v| string(v, style)),
            style,
        );
        optional(
            &mut who,
            "name",
            m.initiator_name.as_ref().map(|v| string(v, style)),
            style,
        );
        fields.push(("initiator".into(), object(who, style)));
        object(fields, style)
    }

    fn expected(m: &Model) -> ListedTask {
        ListedTask {
            task_id: m.task_id.clone(),
            instance_id: m.instance_id.clone(),
            labels: m.labels.clone(),
            status: m.status.clone(),
            initiator_id: m.initiator_id.clone(),
            initiator_name: m.initiator_name.clone(),
            start_time: m.start_ms.map(|ms| Utc.timestamp_millis_opt(ms).unwrap()),
            text_hash: 0,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Whatever odd but valid form a page takes, the decoder reads what the tenant holds:
        /// every entry, every field, and the count, whether decoded at once or entry by entry.
        #[test]
        fn a_page_in_any_valid_form_decodes_to_its_model(
            tasks in proptest::collection::vec((model(), style()), 0..8),
            count_style in 0u8..3,
            unreadable_at in proptest::option::of(0usize..8),
        ) {
            let mut entries: Vec<String> = tasks.iter().map(|(m, st)| render(m, st)).collect();
            let unreadable = unreadable_at.map(|i| i.min(entries.len()));
            if let Some(i) = unreadable {
                // A well-formed entry nobody can read: not an object.
                entries.insert(i, r#"["not", "a", "task"]"#.into());
            }
            let total = entries.len();
            let count = match count_style {
                0 => format!(r#""count": "{total}", "#),
                1 => format!(r#""count": {total}, "#),
                _ => String::new(),
            };
            let data = format!(r#"{{{count}"tasks": [{}], "x_extra": {{"a": 1}}}}"#, entries.join(", "));
            for full in [true, false] {
                let page = decode_page(Bytes::from(data.clone()), full).unwrap();
                proptest::prop_assert_eq!(page.count, (count_style < 2).then_some(total as u64));
                proptest::prop_assert_eq!(page.skipped, usize::from(unreadable.is_some()));
                let got: Vec<ListedTask> = page.tasks();
                proptest::prop_assert_eq!(got.len(), tasks.len());
                for ((m, st), mut task) in tasks.iter().zip(got) {
                    proptest::prop_assert_eq!(task.text_hash, xxhash_rust::xxh3::xxh3_64(render(m, st).as_bytes()));
                    task.text_hash = 0;
                    proptest::prop_assert_eq!(task, expected(m));
                }
            }
        }
    }

    #[test]
    fn a_page_that_is_not_json_fails_the_page() {
        for bad in [
            "",
            "{",
            r#"{"tasks": [1,]}"#,
            "\u{0}",
            r#"{"tasks": [{"task_id": "1"}"#,
        ] {
            assert!(decode_page(Bytes::from(bad), true).is_err(), "{bad:?}");
            assert!(decode_page(Bytes::from(bad), false).is_err(), "{bad:?}");
        }
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
