//! Reading Feishu's JSON leniently: a number where a string is documented, a missing optional
//! field or an unknown extra one never costs the rest of the page. After this module nothing
//! sees JSON.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

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
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The total the platform reports for the whole listing.
    pub count: u64,
    pub tasks: Vec<ListedTask>,
    /// Entries without a usable task id, dropped.
    pub skipped: usize,
}

/// The envelope every response shares; `data` is decoded by the caller.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub code: Option<i64>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub msg: Option<String>,
    #[serde(default)]
    pub data: Option<Value>,
    // The token endpoint puts its fields at the top level.
    #[serde(default, deserialize_with = "lenient_string")]
    pub tenant_access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub expire: Option<i64>,
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

/// Decodes the `data` of a user_task/query answer.
pub fn decode_page(data: &Value) -> Result<Page, String> {
    let obj = data.as_object().ok_or("`data` is not an object")?;
    let count = match obj.get("count") {
        Some(v) => as_i64(v)
            .filter(|c| *c >= 0)
            .ok_or_else(|| format!("`data.count` is not a count: {v}"))? as u64,
        None => 0,
    };
    let entries = match obj.get("tasks") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(other) => return Err(format!("`data.tasks` is not a list: {}", short(other))),
    };
    let mut page = Page {
        count,
        tasks: Vec::with_capacity(entries.len()),
        skipped: 0,
    };
    for entry in entries {
        match decode_task(entry) {
            Some(t) => page.tasks.push(t),
            None => page.skipped += 1,
        }
    }
    // A total below what this page holds is wrong; trust what we can see.
    Ok(page)
}

fn decode_task(v: &Value) -> Option<ListedTask> {
    let task_id = v
        .get("task_id")
        .and_then(as_string)
        .filter(|s| !s.is_empty())?;
    let wf = v.get("workflow_instance");
    let labels = wf
        .and_then(|w| w.get("label"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    let text = i.get("text").and_then(as_string)?;
                    let lang = i
                        .get("language_code")
                        .and_then(as_string)
                        .unwrap_or_default();
                    Some((lang, text))
                })
                .collect()
        })
        .unwrap_or_default();
    let initiator = v.get("initiator");
    Some(ListedTask {
        task_id,
        instance_id: wf.and_then(|w| w.get("id")).and_then(as_string),
        labels,
        status: wf.and_then(|w| w.get("status")).and_then(as_string),
        initiator_id: initiator
            .and_then(|i| i.get("user_id"))
            .and_then(as_string)
            .filter(|s| !s.is_empty()),
        initiator_name: initiator
            .and_then(|i| i.get("name"))
            .and_then(as_string)
            .filter(|s| !s.is_empty()),
        start_time: v.get("task_start_time").and_then(as_i64).and_then(epoch_ms),
    })
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

pub fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 120 {
        let cut = (0..=120)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The label to show people: Chinese when present, else the first one.
pub fn display_label(labels: &[(String, String)]) -> &str {
    labels
        .iter()
        .find(|(lang, _)| lang == "2052")
        .or_else(|| labels.first())
        .map_or("", |(_, text)| text.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_documented_shape() {
        let data = json!({"count": "2", "tasks": [
            {"task_id": "1", "task_start_time": "1730208758000",
             "workflow_instance": {"id": "w1", "label": [{"language_code": "2052", "text": "报销"}, {"language_code": "1033", "text": "Expense"}], "status": "in_process"},
             "initiator": {"user_id": "9", "name": "Li"}, "summarys": []},
            {"task_id": "2"}
        ]});
        let page = decode_page(&data).unwrap();
        assert_eq!(page.count, 2);
        assert_eq!(page.tasks.len(), 2);
        let t = &page.tasks[0];
        assert_eq!(t.instance_id.as_deref(), Some("w1"));
        assert_eq!(t.labels.len(), 2);
        assert_eq!(display_label(&t.labels), "报销");
        assert_eq!(t.initiator_id.as_deref(), Some("9"));
        assert_eq!(t.start_time.unwrap().timestamp_millis(), 1_730_208_758_000);
        assert_eq!(page.tasks[1].start_time, None);
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
            let page = decode_page(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(page.tasks.len(), kept, "{name}");
            assert_eq!(page.skipped, skipped, "{name}");
        }
        assert!(decode_page(&json!({"count": "x"})).is_err());
        assert!(decode_page(&json!({"count": "1", "tasks": {"a": 1}})).is_err());
        assert!(decode_page(&json!([1])).is_err());
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
