//! The GitHub double answers as GitHub would, checked against GitHub's own
//! published OpenAPI description rather than against what octocrab happens
//! to decode.
//!
//! The description is the npm package `@octokit/openapi`
//! (`generated/api.github.com.json`, GitHub's `github/rest-api-description`
//! plus Octokit's extensions; 13 MB). The tests read a small extract of it,
//! committed as `tests/github-openapi/api.github.com.extract.json`: every
//! operation GitHub has (method and path), and for each route the double
//! serves, the success statuses and the response schema reduced to types,
//! nullability, enums and `required` lists, its `$ref`s kept as names into
//! the extract's `schemas`. The extract names the package version and the
//! SHA-256 of the file it was cut from; [`regenerate_the_extract`] (ignored)
//! cuts it again, and the extract's `$comment` says how. No network and no
//! npm are needed to run the tests.
//!
//! What is checked:
//! - every route the double serves ([`served_routes`], read from its router)
//!   is an operation of the description, path templates compared with the
//!   parameter names blanked (`{owner}` and axum's `{*reference}` alike);
//! - a realistic scenario — the drift bot opening, finding, updating and
//!   closing a PR, a human pushing to its branch, the sticky preview comment
//!   with a duplicate healed, labels, a commit status, a GitHub App minting
//!   an installation token and posting a check run, refs created, moved,
//!   listed and deleted, the rate limit — is driven through the real client
//!   (octocrab) and plain HTTP, and every 2xx answer the double gave on a
//!   served route has a status the description lists for it and a body with
//!   every property the description marks `required`, each value of the
//!   JSON type the description gives (`null` only where it says nullable),
//!   enum values among the listed ones, and no property the description does
//!   not have (an object with `additionalProperties` excepted);
//! - the scenario reaches every served route, so none goes unchecked.
//!
//! Not checked: string formats (`date-time`, `uri`), lengths and patterns;
//! error bodies (GitHub's `basic-error` has no required property); headers.
//!
//! The checker is written here rather than taken from a JSON Schema crate
//! (none is in the tree): OpenAPI 3.0 schemas are not JSON Schema
//! (`nullable`), "a property the description lacks is an error" is this
//! test's rule, not the description's, and the few keywords GitHub's
//! response schemas use fit in a hundred lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use flotilla_repos::github::{GitHubAuth, GitHubClient, GitHubClientConfig, RetryPolicy, Secret};
use flotilla_repos::pr::{BotIdentity, CheckConclusion, CommitState, PREVIEW_MARKER, PrSpec};
use flotilla_tests::github_double::{
    APP_ID, DOUBLE_TOKEN, DoubleCommit, GitHubDouble, INSTALLATION_ID, LoggedRequest,
    app_private_key, served_routes, sha_of,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OWNER: &str = "contoso";
const REPO: &str = "fleet";
const CLUSTER: &str = "aks-eastus2-01";

/// The committed extract of GitHub's description.
fn extract_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("github-openapi/api.github.com.extract.json")
}

fn extract() -> Value {
    let path = extract_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A path template with its parameter names blanked: `/repos/{}/{}/pulls`.
/// GitHub's `{owner}` and axum's `{owner}` or `{*reference}` compare equal.
fn blank_parameters(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_parameter = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_parameter = true;
                out.push_str("{}");
            }
            '}' => in_parameter = false,
            _ if in_parameter => {}
            _ => out.push(c),
        }
    }
    out
}

/// How the extract names an operation: `GET /repos/{}/{}/pulls`.
fn operation_key(method: &str, path: &str) -> String {
    format!("{} {}", method.to_uppercase(), blank_parameters(path))
}

#[test]
fn every_served_route_is_a_github_route() {
    let extract = extract();
    let operations: BTreeSet<&str> = extract["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(operations.len() > 500, "the extract lists every operation");
    let responses = extract["responses"].as_object().expect("responses");
    let served: BTreeSet<String> = served_routes()
        .iter()
        .map(|r| operation_key(&r.method, &r.path))
        .collect();

    let not_github: Vec<&String> = served
        .iter()
        .filter(|k| !operations.contains(k.as_str()))
        .collect();
    assert!(
        not_github.is_empty(),
        "the double serves routes GitHub does not have: {not_github:#?}"
    );
    let unextracted: Vec<&String> = served
        .iter()
        .filter(|k| !responses.contains_key(k.as_str()))
        .collect();
    let stale: Vec<&String> = responses.keys().filter(|k| !served.contains(*k)).collect();
    assert!(
        unextracted.is_empty() && stale.is_empty(),
        "the extract is out of date, regenerate it (see its $comment): \
         served without responses {unextracted:#?}, responses of routes no longer served {stale:#?}"
    );
}

/// Checks JSON values against the extract's reduced schemas.
struct Checker<'a> {
    schemas: &'a Map<String, Value>,
}

impl Checker<'_> {
    /// Add to `out` every way `value` differs from `node`; `at` is the JSON
    /// pointer of `value`, array indices written `*` so that one problem of
    /// many items is reported once.
    fn check(&self, value: &Value, node: &Value, at: &str, out: &mut BTreeSet<String>) {
        let at_or_body = || if at.is_empty() { "(body)" } else { at };
        let nullable = node.get("nullable") == Some(&Value::Bool(true));
        if value.is_null() && nullable {
            return;
        }
        if let Some(name) = node.get("$ref").and_then(Value::as_str) {
            let target = self
                .schemas
                .get(name)
                .unwrap_or_else(|| panic!("the extract has no schema {name}"));
            return self.check(value, target, at, out);
        }
        if let Some(branches) = node.get("anyOf").and_then(Value::as_array) {
            let mut closest: Option<BTreeSet<String>> = None;
            for branch in branches {
                let mut problems = BTreeSet::new();
                self.check(value, branch, at, &mut problems);
                if problems.is_empty() {
                    return;
                }
                if closest.as_ref().is_none_or(|c| problems.len() < c.len()) {
                    closest = Some(problems);
                }
            }
            out.insert(format!(
                "{}: matches none of the description's alternatives",
                at_or_body()
            ));
            out.extend(closest.unwrap_or_default());
            return;
        }
        let declared = node.get("type").and_then(Value::as_str);
        let object_like = node.get("properties").is_some() || node.get("required").is_some();
        let expected = declared.or(object_like.then_some("object"));
        if let Some(expected) = expected
            && !has_type(value, expected)
        {
            let or_null = if nullable { " or null" } else { "" };
            out.insert(format!(
                "{}: {} where the description says {expected}{or_null}",
                at_or_body(),
                type_name(value)
            ));
            return;
        }
        if let Some(allowed) = node.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            out.insert(format!(
                "{}: {value} is not one of {}",
                at_or_body(),
                Value::Array(allowed.clone())
            ));
        }
        match value {
            Value::Object(map) => self.check_object(map, node, at, out),
            Value::Array(items) => {
                if let Some(item) = node.get("items") {
                    for v in items {
                        self.check(v, item, &format!("{at}/*"), out);
                    }
                }
            }
            _ => {}
        }
    }

    fn check_object(
        &self,
        map: &Map<String, Value>,
        node: &Value,
        at: &str,
        out: &mut BTreeSet<String>,
    ) {
        for name in node["required"].as_array().into_iter().flatten() {
            let name = name.as_str().expect("required names are strings");
            if !map.contains_key(name) {
                out.insert(format!("{at}/{name}: missing (required)"));
            }
        }
        let properties = node.get("properties").and_then(Value::as_object);
        // Any property is allowed where the description says so, or where
        // it describes no properties at all (a free-form object); elsewhere
        // a property it does not have is one the double made up.
        let open = match node.get("additionalProperties") {
            Some(Value::Bool(allowed)) => *allowed,
            _ => properties.is_none(),
        };
        for (name, v) in map {
            match properties.and_then(|p| p.get(name)) {
                Some(property) => self.check(v, property, &format!("{at}/{name}"), out),
                None if !open => {
                    out.insert(format!("{at}/{name}: not in the description"));
                }
                None => {}
            }
        }
    }
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        other => panic!("the extract has a type the checker does not know: {other}"),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every way the logged answers differ from GitHub's: each 2xx answer on a
/// served route, against the extract's responses for that operation.
fn contract_problems(extract: &Value, log: &[LoggedRequest]) -> BTreeSet<String> {
    let checker = Checker {
        schemas: extract["schemas"].as_object().expect("schemas"),
    };
    let mut problems = BTreeSet::new();
    for answer in log.iter().filter(|r| (200..300).contains(&r.status)) {
        let Some(route) = &answer.route else {
            problems.insert(format!(
                "{} {}: answered {} outside any route",
                answer.method, answer.path, answer.status
            ));
            continue;
        };
        let key = operation_key(&answer.method, route);
        let what = format!("{} {route} {}", answer.method, answer.status);
        let Some(success) = extract["responses"][&key]["success"].as_object() else {
            problems.insert(format!("{what}: no responses in the extract for {key}"));
            continue;
        };
        let Some(schema) = success.get(&answer.status.to_string()) else {
            let listed: Vec<&String> = success.keys().collect();
            problems.insert(format!("{what}: GitHub answers {listed:?}"));
            continue;
        };
        match (schema, &answer.response) {
            (Value::Null, None) => {}
            (Value::Null, Some(_)) => {
                problems.insert(format!("{what}: a body where GitHub sends none"));
            }
            (_, None) => {
                problems.insert(format!("{what}: no JSON body"));
            }
            (schema, Some(body)) => {
                let mut found = BTreeSet::new();
                checker.check(body, schema, "", &mut found);
                problems.extend(found.into_iter().map(|p| format!("{what}: {p}")));
            }
        }
    }
    problems
}

fn config(api_url: String, auth: GitHubAuth) -> GitHubClientConfig {
    let mut cfg = GitHubClientConfig::new(OWNER, REPO, auth);
    cfg.api_url = Some(api_url);
    cfg.retry = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(1),
    };
    cfg
}

/// One request over plain HTTP/1.1 with the double's token, for the routes
/// the bots do not call; the double logs its answer. Returns the status.
async fn raw(double: &GitHubDouble, method: &str, path: &str, body: Option<Value>) -> u16 {
    let addr = double.url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: token {DOUBLE_TOKEN}\r\n\
         User-Agent: flotilla-contract-test\r\nAccept: application/vnd.github+json\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Drive the double the way the bots and the people around them do, and
/// return what did not succeed (the scenario expects every step to).
async fn run_scenario(double: &GitHubDouble) -> Vec<String> {
    let mut failed = Vec::new();
    let gh = GitHubClient::new(&config(
        double.url(),
        GitHubAuth::Token(Secret::from(DOUBLE_TOKEN)),
    ))
    .unwrap();
    let mut step = |what: &str, ok: bool| {
        if !ok {
            failed.push(what.to_owned());
        }
    };

    // The drift bot pushes its branch and opens the PR, then updates it.
    let branch = PrSpec::drift_branch(CLUSTER);
    step(
        "branch head of main",
        gh.branch_head("main").await.is_ok_and(|h| h.is_some()),
    );
    double.push(&branch, DoubleCommit::bot(&sha_of("drift-1")));
    let mut spec = PrSpec {
        cluster: CLUSTER.to_owned(),
        branch: branch.clone(),
        base: "main".to_owned(),
        title: format!("flotilla: drift in {CLUSTER}"),
        body: "## Drift\n\n| Deployment | traefik | replicas 2 → 3 |".to_owned(),
        labels: vec!["drift".to_owned(), "flotilla".to_owned()],
        fingerprint: "fp-1".to_owned(),
    };
    let opened = gh.open_or_update_pr(&spec, 10).await;
    step("open the pr", opened.is_ok());
    spec.fingerprint = "fp-2".to_owned();
    spec.body
        .push_str("\n| NetworkPolicy | default-deny | missing |");
    step(
        "update the pr",
        gh.open_or_update_pr(&spec, 10).await.is_ok(),
    );
    let number = match gh.find_pr(&branch, &spec.title).await {
        Ok(Some(pr)) => pr.number,
        _ => {
            failed.push("find the pr".to_owned());
            return failed;
        }
    };

    // A person pushes to the branch (linked to their account), and a commit
    // GitHub links to no account.
    double.push(
        &branch,
        DoubleCommit::human(&sha_of("alice-1"), "Alice", "alice@contoso.com"),
    );
    let unlinked = DoubleCommit {
        login: None,
        ..DoubleCommit::human(&sha_of("ci-1"), "ci", "ci@build.contoso.com")
    };
    double.push(&branch, unlinked);
    let bot = BotIdentity {
        login: Some(flotilla_tests::github_double::BOT_LOGIN.to_owned()),
        email: flotilla_tests::github_double::BOT_EMAIL.to_owned(),
    };
    step(
        "see the human push",
        gh.human_pushed(number, &bot).await.unwrap_or(false),
    );

    // The preview bot's sticky comment, with a duplicate left by a crash.
    step(
        "comment",
        gh.comment(number, "flotilla stopped force-pushing")
            .await
            .is_ok(),
    );
    let first = gh
        .comment(number, &format!("{PREVIEW_MARKER}\nold preview"))
        .await;
    step("first sticky", first.is_ok());
    step(
        "duplicate sticky",
        gh.comment(number, &format!("{PREVIEW_MARKER}\nolder preview"))
            .await
            .is_ok(),
    );
    step(
        "heal the sticky comment",
        gh.upsert_sticky_comment(number, PREVIEW_MARKER, "2 clusters change")
            .await
            .is_ok(),
    );
    let head = double
        .ref_sha(&format!("heads/{branch}"))
        .unwrap_or_default();
    step(
        "commit status",
        gh.set_commit_status(
            &head,
            CommitState::Failure,
            "flotilla/preview",
            "2 clusters change",
            Some("https://ci.contoso.com/run/1"),
        )
        .await
        .is_ok(),
    );

    // A GitHub App: an installation token, then a check run on the PR head.
    let dir = tempfile::tempdir().unwrap();
    let app = GitHubClient::new(&config(
        double.url(),
        GitHubAuth::App {
            app_id: APP_ID,
            private_key_pem: Secret::from(app_private_key(dir.path())),
            installation_id: INSTALLATION_ID,
        },
    ))
    .unwrap();
    step("installation token", app.git_token().await.is_ok());
    step(
        "check run",
        app.set_check_run(
            &head,
            "flotilla/preview",
            CheckConclusion::Neutral,
            "2 clusters change",
            "| cluster | changes |",
        )
        .await
        .is_ok(),
    );

    // Routes the bots do not call, as a person or a hook would.
    let repo = format!("/repos/{OWNER}/{REPO}");
    let comment_id = first.unwrap_or_default();
    let tag_sha = sha_of("v1.0.0");
    let requests: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", repo.clone(), None),
        (
            "GET",
            format!("{repo}/git/matching-refs/heads/flotilla"),
            None,
        ),
        (
            "POST",
            format!("{repo}/git/refs"),
            Some(json!({ "ref": "refs/tags/v1.0.0", "sha": tag_sha })),
        ),
        (
            "PATCH",
            format!("{repo}/git/refs/tags/v1.0.0"),
            Some(json!({ "sha": head, "force": true })),
        ),
        ("DELETE", format!("{repo}/git/refs/tags/v1.0.0"), None),
        ("GET", format!("{repo}/pulls/{number}"), None),
        ("GET", format!("{repo}/issues/comments/{comment_id}"), None),
        ("GET", format!("{repo}/issues/{number}/labels"), None),
        ("GET", format!("{repo}/commits/{head}/statuses"), None),
        ("GET", "/rate_limit".to_owned(), None),
    ];
    for (method, path, body) in requests {
        let status = raw(double, method, &path, body).await;
        step(
            &format!("{method} {path} answered {status}"),
            (200..300).contains(&status),
        );
    }

    // The drift is gone: the bot closes the PR; closed PRs are listed too.
    step(
        "close the pr",
        gh.close_pr(number, "drift is gone at 0123abc")
            .await
            .is_ok(),
    );
    let status = raw(double, "GET", &format!("{repo}/pulls?state=all"), None).await;
    step("list closed prs", status == 200);
    failed
}

#[tokio::test]
async fn every_answer_has_what_github_always_sends() {
    let extract = extract();
    let double = GitHubDouble::start(OWNER, REPO).await;
    let failed = run_scenario(&double).await;
    let log = double.request_log();
    assert!(
        !format!("{log:?}").contains("ghs_"),
        "the log keeps a minted installation token"
    );
    let mut problems: Vec<String> = failed
        .into_iter()
        .map(|f| format!("scenario step failed: {f}"))
        .collect();
    problems.extend(contract_problems(&extract, &log));

    // Every served route answered at least once with a 2xx: none unchecked.
    let reached: BTreeSet<String> = log
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .filter_map(|r| r.route.as_deref().map(|p| operation_key(&r.method, p)))
        .collect();
    for route in served_routes() {
        let key = operation_key(&route.method, &route.path);
        if !reached.contains(&key) {
            problems.push(format!(
                "{} {}: the scenario never got a 2xx answer from it",
                route.method, route.path
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} ways the double does not answer as GitHub would:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checker finds what it is there to find; without this the contract
/// test could pass by checking nothing.
#[test]
fn the_checker_reports_missing_mistyped_null_unknown_and_out_of_enum_values() {
    let schemas = json!({
        "user": { "type": "object", "required": ["login", "id"],
                  "properties": { "login": { "type": "string" }, "id": { "type": "integer" } } },
    });
    let node = json!({
        "type": "object",
        "required": ["state", "user", "merged_by", "labels"],
        "properties": {
            "state": { "type": "string", "enum": ["open", "closed"] },
            "user": { "$ref": "user" },
            "merged_by": { "$ref": "user", "nullable": true },
            "assignee": { "anyOf": [{ "$ref": "user" }, { "type": "object", "additionalProperties": false }], "nullable": true },
            "labels": { "type": "array", "items": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" } } } },
            "extra": { "type": "object", "additionalProperties": true, "properties": { "a": { "type": "string" } } },
        },
    });
    let checker = Checker {
        schemas: schemas.as_object().unwrap(),
    };
    let good = json!({
        "state": "open", "user": { "login": "a", "id": 1 }, "merged_by": null,
        "assignee": {}, "labels": [{ "name": "drift" }], "extra": { "a": "x", "b": 1 },
    });
    let mut out = BTreeSet::new();
    checker.check(&good, &node, "", &mut out);
    assert!(out.is_empty(), "{out:#?}");

    let bad = json!({
        "state": "merged", "user": { "login": "a", "id": "1", "sso": true },
        "assignee": { "login": 2, "id": 3 }, "labels": [{ "name": null }, {}],
    });
    let mut out = BTreeSet::new();
    checker.check(&bad, &node, "", &mut out);
    let want = [
        "/assignee/login: integer where the description says string",
        "/assignee: matches none of the description's alternatives",
        "/labels/*/name: missing (required)",
        "/labels/*/name: null where the description says string",
        "/merged_by: missing (required)",
        "/state: \"merged\" is not one of [\"open\",\"closed\"]",
        "/user/id: string where the description says integer",
        "/user/sso: not in the description",
    ];
    assert_eq!(out.iter().map(String::as_str).collect::<Vec<_>>(), want);
}

#[test]
fn parameter_names_do_not_matter_when_routes_are_compared() {
    assert_eq!(
        blank_parameters("/repos/{owner}/{repo}/git/ref/{*reference}"),
        blank_parameters("/repos/{owner}/{repo}/git/ref/{ref}")
    );
    assert_eq!(
        operation_key("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
        "GET /repos/{}/{}/pulls/{}"
    );
}

/// Cut the extract again from GitHub's description:
///
/// ```sh
/// npm pack @octokit/openapi@<version> --pack-destination /tmp
/// tar -xzf /tmp/octokit-openapi-<version>.tgz -C /tmp package/generated/api.github.com.json
/// GITHUB_OPENAPI=/tmp/package/generated/api.github.com.json \
///   cargo test -p flotilla-tests --test github_double_contract -- --ignored regenerate_the_extract
/// ```
///
/// It refuses (and writes nothing) when the double serves a route the
/// description does not have.
#[test]
#[ignore = "regenerates tests/github-openapi/api.github.com.extract.json from $GITHUB_OPENAPI"]
fn regenerate_the_extract() {
    let source = std::env::var("GITHUB_OPENAPI")
        .expect("GITHUB_OPENAPI=path/to/@octokit/openapi/generated/api.github.com.json");
    let bytes = std::fs::read(&source).unwrap_or_else(|e| panic!("{source}: {e}"));
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let spec: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{source}: {e}"));
    // Octokit publishes the description with `info.version` set to the
    // package version.
    let version = spec["info"]["version"].as_str().expect("info.version");
    let paths = spec["paths"].as_object().expect("paths");

    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in ["get", "put", "post", "patch", "delete", "head", "options"] {
            if item.get(method).is_some() {
                operations.insert(operation_key(method, path));
            }
        }
    }

    let mut schemas = BTreeMap::new();
    let mut responses = Map::new();
    let mut missing = Vec::new();
    for route in served_routes() {
        let key = operation_key(&route.method, &route.path);
        let method = route.method.to_lowercase();
        let Some((path, op)) = paths.iter().find_map(|(path, item)| {
            let op = item.get(&method)?;
            (blank_parameters(path) == blank_parameters(&route.path)).then_some((path, op))
        }) else {
            missing.push(key);
            continue;
        };
        let mut success = Map::new();
        for (status, response) in op["responses"].as_object().expect("responses") {
            if !status.starts_with('2') {
                continue;
            }
            let response = resolve_response(&spec, response);
            let schema = response
                .pointer("/content/application~1json/schema")
                .map_or(Value::Null, |s| reduce(s, &spec, &mut schemas));
            success.insert(status.clone(), schema);
        }
        responses.insert(
            key,
            json!({ "path": path, "operationId": op["operationId"], "success": success }),
        );
    }
    assert!(
        missing.is_empty(),
        "the double serves routes GitHub's description does not have: {missing:#?}"
    );

    let comment = format!(
        "Cut from @octokit/openapi {version}, generated/api.github.com.json (sha256 below), by \
         regenerate_the_extract in tests/tests/github_double_contract.rs. Do not edit. To \
         regenerate: npm pack @octokit/openapi@{version} --pack-destination /tmp && tar -xzf \
         /tmp/octokit-openapi-{version}.tgz -C /tmp package/generated/api.github.com.json && \
         GITHUB_OPENAPI=/tmp/package/generated/api.github.com.json cargo test -p flotilla-tests \
         --test github_double_contract -- --ignored regenerate_the_extract"
    );
    let extract = json!({
        "$comment": comment,
        "source": {
            "package": "@octokit/openapi",
            "version": version,
            "file": "generated/api.github.com.json",
            "sha256": digest,
        },
        "operations": operations,
        "responses": responses,
        "schemas": schemas,
    });
    let mut text = serde_json::to_string_pretty(&extract).unwrap();
    text.push('\n');
    let path = extract_path();
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

/// A response object, following a `$ref` into `components/responses`.
fn resolve_response<'a>(spec: &'a Value, response: &'a Value) -> &'a Value {
    match response.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("unexpected response $ref {r}"));
            &spec["components"]["responses"][name]
        }
        None => response,
    }
}

/// An OpenAPI 3.0 schema reduced to what the checker reads: `type`,
/// `nullable`, `enum`, `required`, `properties`, `items`,
/// `additionalProperties` (as a boolean: any schema there allows extra
/// properties) and `anyOf` (GitHub's `oneOf`s are written `anyOf`: the
/// checker accepts a value matching any alternative). A `$ref` to
/// `components/schemas` stays a reference by name, its target reduced once
/// into `schemas` (which also breaks cycles). Descriptions, examples and
/// formats are dropped.
fn reduce(schema: &Value, spec: &Value, schemas: &mut BTreeMap<String, Value>) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected schema $ref {r}"));
        if !schemas.contains_key(name) {
            schemas.insert(name.to_owned(), Value::Null);
            let target = &spec["components"]["schemas"][name];
            let reduced = reduce(target, spec, schemas);
            schemas.insert(name.to_owned(), reduced);
        }
        return json!({ "$ref": name });
    }
    assert!(
        schema.get("allOf").is_none() && schema.get("not").is_none(),
        "allOf/not is not supported by the reducer; extend it: {schema}"
    );
    let mut out = Map::new();
    if let Some(t) = schema.get("type") {
        out.insert("type".into(), t.clone());
    }
    if schema.get("nullable") == Some(&Value::Bool(true)) {
        out.insert("nullable".into(), Value::Bool(true));
    }
    if let Some(e) = schema.get("enum") {
        out.insert("enum".into(), e.clone());
    }
    if let Some(r) = schema.get("required") {
        out.insert("required".into(), r.clone());
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let reduced: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (k.clone(), reduce(v, spec, schemas)))
            .collect();
        out.insert("properties".into(), Value::Object(reduced));
    }
    match schema.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            out.insert("additionalProperties".into(), Value::Bool(*b));
        }
        Some(_) => {
            out.insert("additionalProperties".into(), Value::Bool(true));
        }
        None => {}
    }
    if let Some(items) = schema.get("items") {
        out.insert("items".into(), reduce(items, spec, schemas));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let reduced: Vec<Value> = branches.iter().map(|b| reduce(b, spec, schemas)).collect();
            out.insert("anyOf".into(), Value::Array(reduced));
        }
    }
    Value::Object(out)
}
