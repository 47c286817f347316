//! Feishu's side of a sign-in: the code exchanged for the person's token, then who they are.

/// An answer's JSON, read up to 64 KiB (a sign-in answer is a few hundred bytes).
async fn capped_json(mut response: reqwest::Response) -> Option<serde_json::Value> {
    const CAP: usize = 64 * 1024;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        body.extend_from_slice(&chunk);
        if body.len() > CAP {
            return None;
        }
    }
    serde_json::from_slice(&body).ok()
}

/// Who signed in, as Feishu says.
pub(super) struct Person {
    pub(super) name: String,
    pub(super) open_id: String,
    pub(super) email: Option<String>,
}

/// The code for a user access token, then who it is. Errors say what Feishu said, never a
/// token or the secret.
pub(super) async fn feishu_person(
    live: &crate::console::Ground,
    code: &str,
    redirect_uri: &str,
) -> Result<Person, String> {
    let config = &live.config;
    let http = crate::feishu::client_builder()
        .timeout(config.feishu.request_timeout)
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let base = &config.feishu.base_url;
    let secret = live.app_secret.expose().to_owned();
    let answer: serde_json::Value = http
        .post(format!("{base}/open-apis/authen/v2/oauth/token"))
        .json(&serde_json::json!({
            "grant_type": "authorization_code",
            "client_id": config.feishu.app_id,
            "client_secret": secret,
            "code": code,
            "redirect_uri": redirect_uri,
        }))
        .send()
        .await
        .map_err(|e| format!("the token exchange did not complete ({})", e.without_url()))
        .map(capped_json)?
        .await
        .ok_or_else(|| "the token exchange's answer was not JSON (or too long)".to_owned())?;
    let code = answer.get("code").and_then(|c| c.as_i64()).unwrap_or(-1);
    if code != 0 {
        let msg = answer
            .get("error_description")
            .or_else(|| answer.get("msg"))
            .and_then(|m| m.as_str())
            .unwrap_or("");
        return Err(if code == 20010 {
            "you may not use the app (its availability range in the Feishu admin console)".into()
        } else {
            format!("code {code}: {msg}")
        });
    }
    let token = answer
        .get("access_token")
        .and_then(|t| t.as_str())
        .ok_or("the token exchange gave no access_token")?;
    let info: serde_json::Value = http
        .get(format!("{base}/open-apis/authen/v1/user_info"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("reading who you are did not complete ({})", e.without_url()))
        .map(capped_json)?
        .await
        .ok_or_else(|| "the user_info answer was not JSON (or too long)".to_owned())?;
    let code = info.get("code").and_then(|c| c.as_i64()).unwrap_or(-1);
    let data = info.get("data").filter(|_| code == 0).ok_or_else(|| {
        format!(
            "user_info code {code}: {}",
            info.get("msg").and_then(|m| m.as_str()).unwrap_or("")
        )
    })?;
    let text = |k: &str| {
        data.get(k)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let open_id = text("open_id")
        .ok_or("user_info gave no open_id")?
        .to_owned();
    Ok(Person {
        name: text("name").unwrap_or(&open_id).to_owned(),
        email: text("email")
            .or_else(|| text("enterprise_email"))
            .map(str::to_owned),
        open_id,
    })
}
