//! The project id of a region, looked up at IAM when an account gives none (as the official
//! SDKs do): `GET /v3/projects?name=<region>`.

use reqwest::Method;
use serde::Deserialize;

use super::endpoints::Service;
use super::error::{CloudError, ErrorCategory};
use super::transport::{CloudClient, Request};

#[derive(Deserialize)]
struct Projects {
    #[serde(default)]
    projects: Vec<Project>,
}

#[derive(Deserialize)]
struct Project {
    id: String,
    #[serde(default)]
    name: String,
}

/// The one project named after the region; none or several is an error naming the region.
fn pick(projects: Projects, region: &str) -> Result<String, String> {
    let mut matching = projects.projects.into_iter().filter(|p| p.name == region);
    match (matching.next(), matching.next()) {
        (Some(p), None) => Ok(p.id),
        (None, _) => Err(format!(
            "IAM lists no project named {region} for these credentials; give the project id"
        )),
        (Some(_), Some(_)) => Err(format!(
            "IAM lists several projects named {region}; give the project id"
        )),
    }
}

impl CloudClient {
    pub async fn project_of_region(&self) -> Result<String, CloudError> {
        let region = self.account().region.clone();
        let req = Request::new(
            Service::Iam,
            "list_projects",
            Method::GET,
            "/v3/projects".into(),
        )
        .query("name", &region);
        let projects: Projects = self.call_json(req).await?;
        pick(projects, &region).map_err(|detail| CloudError::Credentials {
            from: self.account().principal(),
            category: ErrorCategory::Unauthorized,
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projects(names: &[(&str, &str)]) -> Projects {
        Projects {
            projects: names
                .iter()
                .map(|(id, name)| Project {
                    id: id.to_string(),
                    name: name.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_project_named_after_the_region() {
        let cases: [(&str, Projects, Result<&str, &str>); 4] = [
            ("one", projects(&[("p1", "cn-north-4")]), Ok("p1")),
            (
                "among others",
                projects(&[("p0", "cn-north-1"), ("p1", "cn-north-4")]),
                Ok("p1"),
            ),
            ("none", projects(&[("p0", "cn-north-1")]), Err("no project")),
            (
                "several",
                projects(&[("p1", "cn-north-4"), ("p2", "cn-north-4")]),
                Err("several"),
            ),
        ];
        for (name, list, want) in cases {
            let got = pick(list, "cn-north-4");
            match want {
                Ok(id) => assert_eq!(got.as_deref(), Ok(id), "{name}"),
                Err(part) => assert!(got.is_err_and(|e| e.contains(part)), "{name}"),
            }
        }
    }
}
