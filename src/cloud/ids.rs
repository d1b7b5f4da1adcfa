//! Ids the cloud hands back go into URL paths and statuses. An empty one would address the
//! collection instead of the app and lose track of what was created, so an answer that carries
//! one is refused as undecodable (a create then counts as "outcome unknown" and is looked up).

use serde::{Deserialize, Deserializer, de::Error};

pub fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let id = String::deserialize(d)?;
    if id.trim().is_empty() {
        return Err(D::Error::custom("an empty id"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct App {
        #[serde(deserialize_with = "non_empty")]
        id: String,
    }

    #[test]
    fn empty_and_blank_ids_are_refused() {
        for body in [r#"{"id":""}"#, r#"{"id":"  "}"#, r#"{"id":"\t\n"}"#] {
            let err = serde_json::from_str::<App>(body)
                .err()
                .map(|e| e.to_string());
            assert!(err.is_some_and(|e| e.contains("an empty id")), "{body}");
        }
        let app: Result<App, _> = serde_json::from_str(r#"{"id":"a1"}"#);
        assert_eq!(app.map(|a| a.id).ok().as_deref(), Some("a1"));
    }
}
