//! Reading Feishu's JSON leniently: a number where a string is documented, a missing optional
//! field or an unknown extra one never costs the rest of the page. After this module nothing
//! sees JSON.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{PAGE_SIZE, skim};

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

/// One page of a listing: its entries indexed, each decoded in full only when asked for.
///
/// A steady listing mostly repeats what is stored; telling that needs only each entry's id and
/// a hash of its text, so the fields of an unchanged task are never taken apart.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The total the platform reports for the whole listing.
    pub count: u64,
    /// The entries with a usable task id, in the listing's order.
    pub entries: Vec<Entry>,
    /// Entries without a usable task id, dropped.
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
        if let Some(task) = walk_task(raw, entry.fingerprint) {
            return task;
        }
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

    /// Indexes the page, or decodes it in full; see [`decode_page`].
    pub fn decode(self, full: bool) -> Result<Page, String> {
        // A listing answer indexed on arrival (or now, if it came as one seen before) is not
        // taken apart again.
        let mut answer = self.answer;
        let indexed = match (answer.page.take(), &answer.data) {
            (Some(page), _) => Some(page),
            (None, DataPlace::Unread) => index_listing(&answer.body).and_then(|i| i.page),
            (None, _) => None,
        };
        if let Some(page) = indexed
            && let Some(count) = indexed_value(&answer.body, &page.count)
        {
            return build_page(answer.body.clone(), count, page.tasks, full);
        }
        decode_page(answer.data(), full)
    }
}

/// A successful answer (code 0): the body as received, its hash, and where its `data` sits.
#[derive(Debug)]
pub struct Answer {
    body: Bytes,
    /// xxh3 of `body`.
    pub hash: u64,
    data: DataPlace,
    /// A listing answer's page, when it was indexed.
    page: Option<PageIndex>,
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
            page: None,
            tenant_access_token,
            expire,
        })
    }

    /// [`read`](Self::read) for a listing answer, which can be large: the envelope is indexed
    /// (see `skim`) instead of parsed, so the body is not taken apart twice on the way to its
    /// entries. A shape the index does not expect is read by [`read`](Self::read).
    pub fn read_listing(body: Bytes, hash: u64) -> Result<Answer, (Option<i64>, Option<String>)> {
        let Some(idx) = index_listing(&body) else {
            return Answer::read(body, hash);
        };
        let (Some(code), Some(msg)) = (
            indexed_value(&body, &idx.code),
            indexed_value(&body, &idx.msg),
        ) else {
            return Answer::read(body, hash);
        };
        let (code, msg) = (
            code.and_then(|v| as_i64(&v)),
            msg.and_then(|v| as_string(&v)),
        );
        if code != Some(0) {
            return Err((code, msg));
        }
        let data = match idx.data {
            Some(span) if &body[span.clone()] != b"null" => DataPlace::At(span),
            _ => DataPlace::Null,
        };
        Ok(Answer {
            body,
            hash,
            data,
            page: idx.page,
            tenant_access_token: None,
            expire: None,
        })
    }

    /// A body that hashes as one already read as a code-0 answer: the same bytes, so the same
    /// answer. Nothing is parsed until its `data` is asked for.
    pub fn seen(body: Bytes, hash: u64) -> Answer {
        Answer {
            body,
            hash,
            data: DataPlace::Unread,
            page: None,
            tenant_access_token: None,
            expire: None,
        }
    }

    /// The text of `data` (`null` when the answer had none), sharing the body's buffer.
    pub fn data(&self) -> Bytes {
        let place = match &self.data {
            DataPlace::Unread => match Answer::read_listing(self.body.clone(), self.hash) {
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

/// What indexing a listing answer found: the places of the envelope's members, and of the
/// page inside `data` when `data` is an object whose `tasks` is a list (or null, or absent).
#[derive(Debug, Default)]
struct ListingIndex {
    code: Option<Range<usize>>,
    msg: Option<Range<usize>>,
    data: Option<Range<usize>>,
    page: Option<PageIndex>,
}

/// Where a page's `count` and entries sit in the text indexed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PageIndex {
    count: Option<Range<usize>>,
    tasks: Vec<Indexed>,
}

/// An entry's place in the text, and the entry itself when the index could read it on the way
/// (see [`walk_task`]): a page seen for the first time is then gone over once, not twice.
type Indexed = (Range<usize>, Option<ListedTask>);

/// Indexes a whole listing answer in one pass; `None` when it cannot (serde reads it then).
fn index_listing(body: &[u8]) -> Option<ListingIndex> {
    let mut idx = ListingIndex::default();
    let end = skim::walk_object(body, skim::start(body), |key, i| match key {
        b"code" => skim::set_once(&mut idx.code, i..skim::value_end(body, i)?),
        b"msg" => skim::set_once(&mut idx.msg, i..skim::value_end(body, i)?),
        b"data" => {
            let end = match index_page(body, i) {
                Some((page, end)) => {
                    idx.page = Some(page);
                    end
                }
                None => skim::value_end(body, i)?,
            };
            skim::set_once(&mut idx.data, i..end)
        }
        _ => skim::value_end(body, i),
    })?;
    skim::ends_at(body, end).then_some(idx)
}

/// Indexes the page object that starts at `i`: its index and its end.
fn index_page(b: &[u8], i: usize) -> Option<(PageIndex, usize)> {
    let mut count = None;
    let mut tasks: Option<Vec<Indexed>> = None;
    let end = skim::walk_object(b, i, |key, j| match key {
        b"count" => skim::set_once(&mut count, j..skim::value_end(b, j)?),
        b"tasks" if tasks.is_none() => {
            if b[j..].starts_with(b"null") {
                tasks = Some(Vec::new());
                return skim::value_end(b, j).filter(|e| *e == j + 4);
            }
            let mut list = Vec::with_capacity(PAGE_SIZE as usize);
            let end = skim::walk_array(b, j, |k| match walk_task_at(b, k) {
                Some((task, end)) => {
                    list.push((k..end, Some(task)));
                    Some(end)
                }
                None => {
                    let end = skim::value_end(b, k)?;
                    list.push((k..end, None));
                    Some(end)
                }
            })?;
            tasks = Some(list);
            Some(end)
        }
        b"tasks" => None,
        _ => skim::value_end(b, j),
    })?;
    Some((
        PageIndex {
            count,
            tasks: tasks.unwrap_or_default(),
        },
        end,
    ))
}

/// A scalar found by an index, decoded: `Some(None)` when there was none, `None` when its text
/// is not JSON.
fn indexed_value(text: &[u8], span: &Option<Range<usize>>) -> Option<Option<Value>> {
    match span {
        None => Some(None),
        Some(span) => serde_json::from_slice(&text[span.clone()]).ok().map(Some),
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

/// Indexes the `data` of a user_task/query answer: the count, and each entry's id, hash and
/// place in the text. An entry whose fields are plain is read on the way (see [`walk_task`]);
/// any other is decoded by serde later, when asked for — or, with `full` (every entry will be
/// asked for), at once.
pub fn decode_page(data: Bytes, full: bool) -> Result<Page, String> {
    let (count, spans) = match skim_page(&data) {
        Some(indexed) => indexed,
        None => serde_page(&data)?,
    };
    build_page(data, count, spans, full)
}

/// A page from its `count` and the places of its entries in `text`.
fn build_page(
    text: Bytes,
    count: Option<Value>,
    indexed: Vec<Indexed>,
    full: bool,
) -> Result<Page, String> {
    let count = match count {
        None | Some(Value::Null) => 0,
        Some(v) => as_i64(&v)
            .filter(|c| *c >= 0)
            .ok_or_else(|| format!("`data.count` is not a count: {v}"))? as u64,
    };
    let mut entries = Vec::with_capacity(indexed.len());
    let mut skipped = 0;
    for (span, walked) in indexed {
        let raw = &text[span.clone()];
        let fingerprint = xxhash_rust::xxh3::xxh3_64(raw);
        let (id, task) = if let Some(mut task) = walked {
            task.fingerprint = fingerprint;
            (Some(task.task_id.clone()), Some(task))
        } else if full {
            match walk_task(raw, fingerprint).or_else(|| serde_task(raw, fingerprint)) {
                Some(task) => (Some(task.task_id.clone()), Some(task)),
                None => (None, None),
            }
        } else {
            let id = walk_id(raw).or_else(|| {
                serde_json::from_slice::<Obj<WireId>>(raw)
                    .ok()
                    .and_then(|o| o.0)
                    .and_then(|w| w.task_id.0)
                    .filter(|id| !id.is_empty())
            });
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
    // A total below what this page holds is wrong; trust what we can see.
    Ok(Page {
        count,
        entries,
        skipped,
        text,
    })
}

/// One entry decoded by walking its text (see `skim`) when every field read is plain: a string
/// without escapes, a start time written as digits, `null`, or an object or list of them where
/// one is documented. `None` for anything else — an escape, a number where a string is
/// documented, a repeated field, an empty id — and serde reads the entry instead, with all its
/// leniency. Serde takes a whole entry apart, the fields nobody reads included.
fn walk_task(raw: &[u8], fingerprint: u64) -> Option<ListedTask> {
    let (mut task, end) = walk_task_at(raw, 0)?;
    task.fingerprint = fingerprint;
    (end == raw.len()).then_some(task)
}

/// [`walk_task`] on the entry that starts at `i` of `raw`: the task (its fingerprint not set)
/// and where the entry ends.
fn walk_task_at(raw: &[u8], i: usize) -> Option<(ListedTask, usize)> {
    let mut id = None;
    let mut start: Option<Option<i64>> = None;
    let (mut instance_seen, mut instance_id, mut labels, mut status) = (false, None, None, None);
    let (mut initiator_seen, mut initiator_id, mut initiator_name) = (false, None, None);
    let end = skim::walk_object(raw, i, |key, i| match key {
        b"task_id" => walk_string(raw, i, &mut id),
        b"task_start_time" if start.is_none() => {
            let end = skim::value_end(raw, i)?;
            let text = &raw[i..end];
            start = Some(if text == b"null" {
                None
            } else if let Some(s) = plain_str(text) {
                s.trim().parse::<i64>().ok()
            } else if text.iter().all(u8::is_ascii_digit) {
                Some(std::str::from_utf8(text).ok()?.parse::<i64>().ok()?)
            } else {
                return None;
            });
            Some(end)
        }
        b"workflow_instance" if !instance_seen => {
            instance_seen = true;
            walk_object_or_null(raw, i, |k, j| match k {
                b"id" => walk_string(raw, j, &mut instance_id),
                b"status" => walk_string(raw, j, &mut status),
                b"label" => walk_labels(raw, j, &mut labels),
                _ => skim::value_end(raw, j),
            })
        }
        b"initiator" if !initiator_seen => {
            initiator_seen = true;
            walk_object_or_null(raw, i, |k, j| match k {
                b"user_id" => walk_string(raw, j, &mut initiator_id),
                b"name" => walk_string(raw, j, &mut initiator_name),
                _ => skim::value_end(raw, j),
            })
        }
        b"task_start_time" | b"workflow_instance" | b"initiator" => None,
        _ => skim::value_end(raw, i),
    })?;
    let non_empty = |s: Option<Option<String>>| s.flatten().filter(|s| !s.is_empty());
    let task = ListedTask {
        task_id: non_empty(id)?,
        instance_id: instance_id.flatten(),
        labels: labels.unwrap_or_default(),
        status: status.flatten(),
        initiator_id: non_empty(initiator_id),
        initiator_name: non_empty(initiator_name),
        start_time: start.flatten().and_then(epoch_ms),
        fingerprint: 0,
    };
    Some((task, end))
}

/// An entry's id, read as [`walk_task`] reads it; `None`: serde reads it.
fn walk_id(raw: &[u8]) -> Option<String> {
    let mut id = None;
    let end = skim::walk_object(raw, 0, |key, i| match key {
        b"task_id" => walk_string(raw, i, &mut id),
        _ => skim::value_end(raw, i),
    })?;
    (end == raw.len()).then_some(())?;
    id.flatten().filter(|s| !s.is_empty())
}

/// A plain JSON string's text: quoted, UTF-8, no escapes (nor the control characters JSON
/// does not allow unescaped).
fn plain_str(text: &[u8]) -> Option<&str> {
    let inner = text.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.iter().any(|&c| c == b'\\' || c < 0x20) {
        return None;
    }
    std::str::from_utf8(inner).ok()
}

/// Reads the plain string (or `null`) at `i` into `slot`, which must be empty (a field seen
/// once); the value's end. One pass finds the closing quote and refuses an escape or a control
/// character on the way (serde reads such a string).
fn walk_string(b: &[u8], i: usize, slot: &mut Option<Option<String>>) -> Option<usize> {
    if slot.is_some() {
        return None;
    }
    if b.get(i) != Some(&b'"') {
        let end = skim::value_end(b, i).filter(|end| b[i..*end] == *b"null")?;
        *slot = Some(None);
        return Some(end);
    }
    let mut j = i + 1;
    loop {
        match *b.get(j)? {
            b'"' => break,
            b'\\' | 0..0x20 => return None,
            _ => j += 1,
        }
    }
    *slot = Some(Some(std::str::from_utf8(&b[i + 1..j]).ok()?.to_owned()));
    Some(j + 1)
}

/// Walks the object at `i` with `visit`, or steps over a `null` there.
fn walk_object_or_null(
    b: &[u8],
    i: usize,
    visit: impl FnMut(&[u8], usize) -> Option<usize>,
) -> Option<usize> {
    if b[i..].starts_with(b"null") {
        return skim::value_end(b, i).filter(|end| *end == i + 4);
    }
    skim::walk_object(b, i, visit)
}

/// Reads the list of labels at `i` (or `null`, none) into `slot`, which must be empty.
fn walk_labels(b: &[u8], i: usize, slot: &mut Option<Vec<(String, String)>>) -> Option<usize> {
    if slot.is_some() {
        return None;
    }
    let mut labels = Vec::new();
    let end = if b[i..].starts_with(b"null") {
        skim::value_end(b, i).filter(|end| *end == i + 4)?
    } else {
        skim::walk_array(b, i, |j| {
            let (mut code, mut text) = (None, None);
            let end = skim::walk_object(b, j, |k, v| match k {
                b"language_code" => walk_string(b, v, &mut code),
                b"text" => walk_string(b, v, &mut text),
                _ => skim::value_end(b, v),
            })?;
            // A label without text says nothing.
            if let Some(text) = text.flatten() {
                labels.push((code.flatten().unwrap_or_default(), text));
            }
            Some(end)
        })?
    };
    *slot = Some(labels);
    Some(end)
}

/// One entry as serde reads it; `None`: no usable id (the entry is dropped).
fn serde_task(raw: &[u8], fingerprint: u64) -> Option<ListedTask> {
    let mut w = serde_json::from_slice::<Obj<WireTask>>(raw).ok()?.0?;
    let id = w.task_id.0.take().filter(|id| !id.is_empty())?;
    Some(w.into_listed(id, fingerprint))
}

/// A page's `count` and the places of its entries, found by indexing the text; `None` when
/// that cannot be done.
fn skim_page(data: &[u8]) -> Option<(Option<Value>, Vec<Indexed>)> {
    let (page, end) = index_page(data, skim::start(data))?;
    if !skim::ends_at(data, end) {
        return None;
    }
    Some((indexed_value(data, &page.count)?, page.tasks))
}

/// What [`skim_page`] finds, read by serde: slower, and says what is wrong with the text.
fn serde_page(data: &[u8]) -> Result<(Option<Value>, Vec<Indexed>), String> {
    let text = std::str::from_utf8(data).map_err(|e| format!("`data` is not UTF-8: {e}"))?;
    if !text.trim_start().starts_with('{') {
        return Err(format!(
            "`data` is not an object: {}",
            text.chars().take(80).collect::<String>()
        ));
    }
    let wire: WirePage<'_> =
        serde_json::from_str(text).map_err(|e| format!("`data` of the listing: {e}"))?;
    let spans = wire
        .tasks
        .0
        .into_iter()
        .map(|raw| {
            let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            (start..start + raw.get().len(), None)
        })
        .collect();
    Ok((wire.count, spans))
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
        assert_eq!(page.count, 2);
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
        for bad in [
            json!({"count": "x"}),
            json!({"count": "1", "tasks": {"a": 1}}),
            json!([1]),
        ] {
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
    fn indexing_a_listing_finds_what_parsing_finds() {
        // Envelopes: the indexed read and the parsed one give the same answer or refusal.
        let bodies = [
            r#"{"code": 0, "msg": "ok", "data": {"count": "1", "tasks": [{"task_id": "1"}]}}"#,
            r#" {"data": {"tasks": []}, "code": "0", "extra": [1, {"x": "}"}]} "#,
            r#"{"code": 0, "data": null}"#,
            r#"{"code": 0}"#,
            r#"{"code": 99991663, "msg": "token expired"}"#,
            r#"{"code": 99991400, "msg": 7}"#,
            r#"{"code": 0, "code": 1, "data": {}}"#,
            r#"{"code": 0, "data": {"tasks": [1}}"#,
            r#"{"code": 0, "data": {}} trailing"#,
            r#"{"c\u006fde": 0, "data": {}}"#,
            r#"{"code": 0, "data": {}"#,
            "<html>",
            "",
        ];
        for body in bodies {
            let parsed = Answer::read(Bytes::from(body), 1).map(|a| a.data());
            let indexed = Answer::read_listing(Bytes::from(body), 1).map(|a| a.data());
            assert_eq!(indexed, parsed, "{body}");
            // The page indexed on arrival, or later from a body seen before, is the page the
            // parsed data gives.
            let Ok(data) = parsed else { continue };
            let page = |p: Result<Page, String>| p.map(|p| (p.count, p.skipped, p.tasks()));
            let expected = page(decode_page(data, true));
            for full in [true, false] {
                for answer in [
                    Answer::read_listing(Bytes::from(body), 1).unwrap(),
                    Answer::seen(Bytes::from(body), 1),
                ] {
                    assert_eq!(page(RawPage::new(answer).decode(full)), expected, "{body}");
                }
            }
        }
        // Pages: the same count and entry places whenever the index can be made.
        let pages = [
            r#"{"count": "2", "tasks": [{"task_id": "1", "x": "a \" b"}, "garbage", {"task_id": 2}]}"#,
            r#"{ "tasks" : null , "count" : 0 }"#,
            r#"{"count": 1}"#,
            r#"{}"#,
            r#"{"tasks": [ ], "more": {"deep": [[[]]]}}"#,
        ];
        for page in pages {
            let places = |(count, entries): (Option<Value>, Vec<Indexed>)| {
                (
                    count,
                    entries
                        .into_iter()
                        .map(|(span, _)| span)
                        .collect::<Vec<_>>(),
                )
            };
            let indexed = skim_page(page.as_bytes()).unwrap_or_else(|| panic!("{page}"));
            assert_eq!(
                places(indexed),
                places(serde_page(page.as_bytes()).unwrap()),
                "{page}"
            );
        }
        // Where the index cannot be made, serde's reading (and its error) stands.
        for page in [
            r#"{"count": "1", "tasks": {"a": 1}}"#,
            "[1]",
            r#"{"tasks": [1,]}"#,
        ] {
            assert_eq!(skim_page(page.as_bytes()), None, "{page}");
            assert!(decode_page(Bytes::from(page), true).is_err(), "{page}");
        }
    }

    #[test]
    fn walking_an_entry_reads_what_serde_reads() {
        // (entry, walked: read without serde)
        let cases = [
            (
                r#"{"task_id": "1", "task_start_time": "1730208758000", "workflow_instance": {"id": "w1", "label": [{"language_code": "2052", "text": "报销"}, {"language_code": "1033", "text": "Expense"}], "status": "in_process"}, "initiator": {"user_id": "9", "name": "Li"}, "summarys": [{"file_key": {"text": "金额"}}]}"#,
                true,
            ),
            (r#"{"task_id": "2"}"#, true),
            (
                r#"{"task_id": "3", "task_start_time": 1730208758000}"#,
                true,
            ),
            (
                r#"{"task_id": "3", "task_start_time": " 1730208758 "}"#,
                true,
            ),
            (r#"{"task_id": "3", "task_start_time": "soon"}"#, true),
            (
                r#"{"task_id": "4", "workflow_instance": null, "initiator": null}"#,
                true,
            ),
            (
                r#"{"task_id": "5", "workflow_instance": {"label": null, "id": null}}"#,
                true,
            ),
            (
                r#"{"task_id": "6", "workflow_instance": {"label": [{"language_code": "2052"}, {"text": ""}]}}"#,
                true,
            ),
            (
                r#"{"task_id": "7", "initiator": {"user_id": "", "name": ""}, "extra": {"deep": [1, "x", {"y": null}]}}"#,
                true,
            ),
            // Read by serde: numbers for strings, escapes, shapes off the documented ones.
            (r#"{"task_id": 8}"#, false),
            (r#"{"task_id": "9", "task_start_time": 1.73e12}"#, false),
            (r#"{"task_id": "10", "task_start_time": -5}"#, false),
            (
                r#"{"task_id": "11", "task_start_time": 99999999999999999999}"#,
                false,
            ),
            (
                r#"{"task_id": "12", "workflow_instance": {"label": [{"language_code": "2052", "text": "a \"quoted\" word"}]}}"#,
                false,
            ),
            (r#"{"task_id": "13", "workflow_instance": "w"}"#, false),
            (
                r#"{"task_id": "14", "workflow_instance": {"label": ["x"]}}"#,
                false,
            ),
            (r#"{"task_id": "15", "task_id": "16"}"#, false),
            (
                r#"{"task_id": "17", "initiator": {"name": "a", "name": "b"}}"#,
                false,
            ),
            (r#"{"task_id": ""}"#, false),
            (r#"{"task_id": "line\nbreak"}"#, false),
            ("{\"task_id\": \"raw\u{1}control\"}", false),
            (r#"{"t\u0061sk_id": "18"}"#, false),
            (r#"["not", "an", "object"]"#, false),
        ];
        for (entry, walked) in cases {
            let fast = walk_task(entry.as_bytes(), 7);
            assert_eq!(fast.is_some(), walked, "{entry}");
            if let Some(fast) = fast {
                assert_eq!(Some(fast), serde_task(entry.as_bytes(), 7), "{entry}");
            }
            // Whichever reads it, a page decoded in full gives serde's reading (or drops the
            // entry).
            let page = format!(r#"{{"count": 1, "tasks": [{entry}]}}"#);
            let tasks = decode_page(Bytes::from(page), true).unwrap().tasks();
            let expected = serde_task(
                entry.as_bytes(),
                xxhash_rust::xxh3::xxh3_64(entry.as_bytes()),
            );
            assert_eq!(tasks.first(), expected.as_ref(), "{entry}");
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
