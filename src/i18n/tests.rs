use std::collections::BTreeSet;
use std::time::Duration;

use super::*;

/// The message ids of a catalog, read from its text.
fn keys(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_owned()))
        .collect()
}

#[test]
fn every_message_exists_in_both_languages() {
    let zh = keys(include_str!("../../locales/zh-CN/expediter.ftl"));
    let en = keys(include_str!("../../locales/en/expediter.ftl"));
    assert!(zh.len() > 20, "{zh:?}");
    let only_zh: Vec<_> = zh.difference(&en).collect();
    let only_en: Vec<_> = en.difference(&zh).collect();
    assert!(
        only_zh.is_empty() && only_en.is_empty(),
        "only in zh-CN: {only_zh:?}; only in en: {only_en:?}"
    );
    // And each resolves to itself, not to the fallback's words or the key.
    for key in &zh {
        for lang in Lang::ALL {
            let text = lang.n(key, 2);
            // Chinese runs units together: its separator is the one empty message.
            let may_be_empty = key == "age-separator" && lang == Lang::Zh;
            assert!(
                (may_be_empty || !text.is_empty()) && text != *key,
                "{key} in {lang:?}: {text:?}"
            );
        }
        if key.starts_with("state-") || key.starts_with("nav-") {
            assert_ne!(Lang::Zh.t(key), Lang::En.t(key), "{key} is translated");
        }
    }
}

#[test]
fn ages_read_naturally_in_both_languages() {
    let cases: &[(u64, &str, &str)] = &[
        (0, "0秒", "0s"),
        (42, "42秒", "42s"),
        (5 * 60, "5分钟", "5m"),
        (3 * 3600 + 5 * 60, "3小时5分钟", "3h 5m"),
        (26 * 3600, "1天2小时", "1d 2h"),
        (26 * 3600 + 59, "1天2小时", "1d 2h"),
        (3 * 86_400 + 60, "3天", "3d"),
        (15 * 86_400 + 7200, "15天2小时", "15d 2h"),
    ];
    for (secs, zh, en) in cases {
        let d = Duration::from_secs(*secs);
        assert_eq!(Lang::Zh.age(d), *zh, "{secs}s");
        assert_eq!(Lang::En.age(d), *en, "{secs}s");
    }
}

#[test]
fn plurals_follow_each_languages_rules() {
    assert_eq!(Lang::En.n("reminders-sent", 1), "one reminder sent");
    assert_eq!(Lang::En.n("reminders-sent", 3), "3 reminders sent");
    assert_eq!(Lang::Zh.n("reminders-sent", 1), "已催办 1 次");
    assert_eq!(Lang::Zh.n("reminders-sent", 3), "已催办 3 次");
    assert_eq!(Lang::En.n("tasks-waiting", 1), "one task waiting");
    assert_eq!(Lang::En.n("tasks-waiting", 0), "0 tasks waiting");
}

#[test]
fn languages_are_chosen_the_way_people_expect() {
    for (header, want) in [
        ("zh-CN,zh;q=0.9,en;q=0.8", Some(Lang::Zh)),
        ("en-US,en;q=0.9", Some(Lang::En)),
        ("fr-FR, en;q=0.5, zh;q=0.7", Some(Lang::Zh)),
        ("zh-TW;q=0.1, en", Some(Lang::En)),
        ("de, fr", None),
        ("", None),
        ("en;q=0, zh", Some(Lang::Zh)),
    ] {
        assert_eq!(Lang::from_accept_language(header), want, "{header}");
    }
    for (locale, want) in [
        ("zh_CN.UTF-8", Some(Lang::Zh)),
        ("en_US.UTF-8", Some(Lang::En)),
        ("C.UTF-8", None),
        ("POSIX", None),
        ("zh-Hans", Some(Lang::Zh)),
    ] {
        assert_eq!(Lang::parse(locale), want, "{locale}");
    }
    assert_eq!("zh-CN".parse::<Lang>(), Ok(Lang::Zh));
    assert!(
        "fr".parse::<Lang>()
            .unwrap_err()
            .contains("\"zh-CN\" or \"en\"")
    );
}
