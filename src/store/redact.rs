//! A database URL as it may be shown: never with its password (in the user part or the query).

/// `url` without a password, in the user part or the query.
pub(crate) fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            // The query as written (a socket directory stays `/run/postgresql`), less any
            // password in it.
            if let Some(query) = u.query() {
                let shown: Vec<String> = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                        _ => pair.to_owned(),
                    })
                    .collect();
                u.set_query(Some(&shown.join("&")));
            }
            u.to_string()
        }
        Err(_) => "a PostgreSQL URL that cannot be read".into(),
    }
}

/// An error's text with the URL's password taken out, should the driver quote it.
pub(crate) fn redact_in(e: &impl std::fmt::Display, url: &str) -> String {
    let mut text = e.to_string();
    if let Ok(u) = reqwest::Url::parse(url) {
        let in_query = u
            .query_pairs()
            .filter(|(k, _)| k.eq_ignore_ascii_case("password"))
            .map(|(_, v)| v.into_owned());
        let passwords: Vec<String> = u
            .password()
            .map(str::to_owned)
            .into_iter()
            .chain(in_query)
            .filter(|p| !p.is_empty())
            .collect();
        for p in passwords {
            text = text.replace(&p, "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_passwords() {
        for (url, shown) in [
            (
                "postgres://exp:s3cret@db.example/expediter",
                "postgres://exp:***@db.example/expediter",
            ),
            (
                "postgresql:///expediter?host=/run/postgresql&password=s3cret",
                "postgresql:///expediter?host=/run/postgresql&password=***",
            ),
            (
                "postgres://exp@db.example:5433/e",
                "postgres://exp@db.example:5433/e",
            ),
            (
                "postgres://exp:s3cret@db/e?PassWord=s3cret&sslmode=require",
                "postgres://exp:***@db/e?PassWord=***&sslmode=require",
            ),
        ] {
            assert_eq!(redact(url), shown);
            assert!(!redact(url).contains("s3cret"));
        }
    }

    #[test]
    fn errors_are_shown_without_the_urls_passwords() {
        let url = "postgres://exp:pw1@db/e?password=pw2";
        assert_eq!(
            redact_in(&"auth failed for pw1 (pw2)", url),
            "auth failed for *** (***)"
        );
    }
}
