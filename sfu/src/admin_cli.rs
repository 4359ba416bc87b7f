//! The admin CLI (issue 18): `sfu room list|create|end`, `sfu participant list|remove|mute`,
//! `sfu breakout status|start|move|end`, talking to a running server's API (`--url`, default
//! `http://127.0.0.1:7880`; https:// with the webhooks' TLS connector). Each call mints a 5-minute admin token with the configured
//! `--api-key` / `--api-secret` (or `SFU_API_KEY` / `SFU_API_SECRET`). Tables by default,
//! the server's JSON with `--json`.

use std::fmt::Write as _;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::admin_args::{AdminCommand, BreakoutCommand, ParticipantCommand, RoomCommand};
use crate::api::auth::{AdminClaims, AdminGrant, CLI_TOKEN_TTL, MAX_ADMIN_TTL};
use crate::api::PREFIX;
use crate::clock;
use crate::config::{Config, TokenAdmin};
use crate::webhook::https::{Connector, SYSTEM_ROOTS};

/// `sfu token admin`: prints an admin token on stdout.
pub fn admin_token(config: &Config, args: &TokenAdmin) -> ExitCode {
    if args.ttl > MAX_ADMIN_TTL {
        eprintln!("error: invalid value for '--ttl': admin tokens may live 24h at most");
        return ExitCode::from(2);
    }
    let mut claims = AdminClaims::new(args.sub.clone(), args.ttl, clock::system_now());
    claims.admin = Some(AdminGrant {
        room: args.room.clone(),
    });
    let key = config.token_key();
    if key.is_development() {
        eprintln!(
            "warning: no --api-secret / SFU_API_SECRET configured: signed with the built-in \
             development secret; only a server in development mode accepts it"
        );
    }
    println!("{}", key.sign_json(&claims));
    ExitCode::SUCCESS
}

/// Runs `command`: 0 on success, 1 when the server refused, 2 when it could not be reached.
pub fn run(config: &Config, command: AdminCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the tokio runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let key = config.token_key();
    let token = key.sign_json(&AdminClaims::new(
        "sfu-cli",
        CLI_TOKEN_TTL,
        clock::system_now(),
    ));
    match runtime.block_on(execute(&token, command)) {
        Ok(Printed::Ok) => ExitCode::SUCCESS,
        Ok(Printed::Refused) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

enum Printed {
    Ok,
    Refused,
}

/// One API call.
struct Api<'a> {
    base: String,
    token: &'a str,
    client: Client<Connector, Full<Bytes>>,
}

impl Api<'_> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let uri = format!("{}{PREFIX}{path}", self.base);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let request = hyper::Request::builder()
            .method(method)
            .uri(&uri)
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|error| format!("{uri}: {error}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|error| format!("{uri}: {error}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| format!("{uri}: {error}"))?
            .to_bytes();
        let value = serde_json::from_slice(&body).unwrap_or_else(
            |_| json!({"code": "invalid_request", "message": String::from_utf8_lossy(&body)}),
        );
        Ok((status, value))
    }
}

async fn execute(token: &str, command: AdminCommand) -> Result<Printed, String> {
    let target = match &command {
        AdminCommand::Room(c) => match c {
            RoomCommand::List { target }
            | RoomCommand::Create { target, .. }
            | RoomCommand::End { target, .. } => target,
        },
        AdminCommand::Participant(c) => match c {
            ParticipantCommand::List { target, .. }
            | ParticipantCommand::Remove { target, .. }
            | ParticipantCommand::Mute { target, .. } => target,
        },
        AdminCommand::Breakout(c) => match c {
            BreakoutCommand::Status { target, .. }
            | BreakoutCommand::Start { target, .. }
            | BreakoutCommand::Move { target, .. }
            | BreakoutCommand::End { target, .. } => target,
        },
    }
    .clone();
    let roots = target.ca.clone().unwrap_or_else(|| SYSTEM_ROOTS.into());
    let mut api = Api {
        base: target.url.trim_end_matches('/').to_owned(),
        token,
        client: Client::builder(TokioExecutor::new()).build(Connector::new(&roots)?),
    };
    let steps = plan(command);
    let mut last = (200, json!({}));
    for (method, path, body) in steps.calls {
        last = api.call(method.clone(), &path, body.clone()).await?;
        // In a cluster the room lives on one node: follow `wrong_node` there (a few hops at
        // most, so two nodes that disagree for a moment cannot loop) and stay on it.
        for _ in 0..3 {
            let Some(owner) = wrong_node_api(&last) else {
                break;
            };
            api.base = owner;
            last = api.call(method.clone(), &path, body.clone()).await?;
        }
        // `breakout start --sessions`: enabling what is enabled is no error worth stopping.
        if !(200..300).contains(&last.0) {
            break;
        }
    }
    let (status, value) = last;
    if target.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else if (200..300).contains(&status) {
        print!("{}", (steps.render)(&value));
    }
    if (200..300).contains(&status) {
        Ok(Printed::Ok)
    } else {
        if !target.json {
            let field = value["details"]["field"]
                .as_str()
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default();
            eprintln!(
                "error: HTTP {status} {}: {}{field}",
                value["code"].as_str().unwrap_or("?"),
                value["message"].as_str().unwrap_or("")
            );
        }
        Ok(Printed::Refused)
    }
}

/// The base URL (without the API prefix) of the node a `409 wrong_node` answer names.
fn wrong_node_api((status, value): &(u16, Value)) -> Option<String> {
    if *status != 409 || value["code"] != "wrong_node" {
        return None;
    }
    let url = value["details"]["url"].as_str()?;
    Some(url.strip_suffix(PREFIX).unwrap_or(url).to_owned())
}

/// The calls of one command and how to print the last answer.
struct Plan {
    calls: Vec<(Method, String, Option<Value>)>,
    render: fn(&Value) -> String,
}

fn plan(command: AdminCommand) -> Plan {
    let one =
        |method: Method, path: String, body: Option<Value>, render: fn(&Value) -> String| Plan {
            calls: vec![(method, path, body)],
            render,
        };
    match command {
        AdminCommand::Room(RoomCommand::List { .. }) => {
            one(Method::GET, "/rooms".into(), None, render_rooms)
        }
        AdminCommand::Room(RoomCommand::Create {
            name,
            max_participants,
            max_viewers,
            locked,
            viewers_must_knock,
            reconnect_grace_seconds,
            knock_timeout_seconds,
            allow_self_unmute,
            ..
        }) => {
            let mut policy = json!({});
            let mut set = |key: &str, value: Value| {
                if !value.is_null() {
                    policy[key] = value;
                }
            };
            set("maxParticipants", json!(max_participants));
            set("maxViewers", json!(max_viewers));
            set("locked", if locked { json!(true) } else { Value::Null });
            set(
                "viewersMustKnock",
                if viewers_must_knock {
                    json!(true)
                } else {
                    Value::Null
                },
            );
            set("reconnectGraceSeconds", json!(reconnect_grace_seconds));
            set("knockTimeoutSeconds", json!(knock_timeout_seconds));
            set("allowSelfUnmute", json!(allow_self_unmute));
            one(
                Method::POST,
                "/rooms".into(),
                Some(json!({"name": name, "policy": policy})),
                |v| render_rooms(&json!({"rooms": [v["summary"]]})),
            )
        }
        AdminCommand::Room(RoomCommand::End { name, .. }) => {
            one(Method::DELETE, format!("/rooms/{name}"), None, |_| {
                "ended\n".into()
            })
        }
        AdminCommand::Participant(ParticipantCommand::List { room, .. }) => one(
            Method::GET,
            format!("/rooms/{room}/participants"),
            None,
            render_participants,
        ),
        AdminCommand::Participant(ParticipantCommand::Remove {
            room,
            participant,
            reason,
            ..
        }) => one(
            Method::POST,
            format!("/rooms/{room}/participants/{participant}/remove"),
            Some(match reason {
                Some(reason) => json!({"reason": reason}),
                None => json!({}),
            }),
            |_| "removed\n".into(),
        ),
        AdminCommand::Participant(ParticipantCommand::Mute {
            room,
            participant,
            video,
            unmute,
            ..
        }) => one(
            Method::POST,
            format!("/rooms/{room}/participants/{participant}/mute"),
            Some(json!({"kind": if video { "video" } else { "audio" }, "muted": !unmute})),
            |_| "done\n".into(),
        ),
        AdminCommand::Breakout(BreakoutCommand::Status { room, .. }) => one(
            Method::GET,
            format!("/rooms/{room}/breakout"),
            None,
            render_breakout,
        ),
        AdminCommand::Breakout(BreakoutCommand::Start {
            room,
            sessions,
            auto_assign,
            ..
        }) => {
            let base = format!("/rooms/{room}/breakout");
            let mut calls = Vec::new();
            if let Some(count) = sessions {
                calls.push((Method::POST, format!("{base}/enable"), None));
                calls.push((
                    Method::POST,
                    format!("{base}/sessions"),
                    Some(json!({"count": count})),
                ));
            }
            if auto_assign {
                calls.push((Method::POST, format!("{base}/auto-assign"), None));
            }
            calls.push((Method::POST, format!("{base}/start"), None));
            Plan {
                calls,
                render: |v| format!("started run {}\n", v["runId"]),
            }
        }
        AdminCommand::Breakout(BreakoutCommand::Move {
            room,
            to,
            participants,
            ..
        }) => {
            let target = if to.eq_ignore_ascii_case("main") {
                Value::Null
            } else {
                json!(to)
            };
            one(
                Method::POST,
                format!("/rooms/{room}/breakout/move"),
                Some(json!({"participantIds": participants, "target": target})),
                |_| "moved\n".into(),
            )
        }
        AdminCommand::Breakout(BreakoutCommand::End { room, now, .. }) => one(
            Method::POST,
            format!("/rooms/{room}/breakout/end"),
            Some(if now {
                json!({"immediate": true})
            } else {
                json!({})
            }),
            |v| match v["closingEndsAt"].as_str() {
                Some(at) => format!("closing; ends at {at}\n"),
                None => "ended\n".into(),
            },
        ),
    }
}

/// Left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let mut text = String::new();
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(text, "{cell:<width$}  ");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn render_rooms(value: &Value) -> String {
    let rows: Vec<Vec<String>> = value["rooms"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            vec![
                text(&r["name"]),
                text(&r["sessionId"]),
                text(&r["participants"]),
                text(&r["knockers"]),
                text(&r["isLocked"]),
                text(&r["keptOpen"]),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "SESSION",
            "PARTICIPANTS",
            "KNOCKERS",
            "LOCKED",
            "KEPT_OPEN",
        ],
        &rows,
    )
}

fn render_participants(value: &Value) -> String {
    let rows: Vec<Vec<String>> = value["participants"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let location = match &p["location"] {
                Value::Null => "MAIN".to_owned(),
                other => text(other),
            };
            vec![
                text(&p["id"]),
                text(&p["displayName"]),
                text(&p["roleName"]),
                location,
                text(&p["isAudioEnabled"]),
                text(&p["isVideoEnabled"]),
                text(&p["connection"]),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "NAME",
            "ROLE",
            "LOCATION",
            "AUDIO",
            "VIDEO",
            "CONNECTION",
        ],
        &rows,
    )
}

fn render_breakout(value: &Value) -> String {
    let b = &value["breakout"];
    let mut out = format!(
        "state {}  run {}  revision {}\n",
        text(&b["state"]),
        text(&b["runId"]),
        text(&b["revision"])
    );
    let rows: Vec<Vec<String>> = b["sessions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let ids = |key: &str| {
                s[key]
                    .as_array()
                    .map(|a| a.iter().map(text).collect::<Vec<_>>().join(","))
                    .unwrap_or_default()
            };
            vec![
                text(&s["id"]),
                text(&s["name"]),
                ids("memberIds"),
                ids("assignedIds"),
            ]
        })
        .collect();
    out.push_str(&table(&["SESSION", "NAME", "MEMBERS", "ASSIGNED"], &rows));
    out
}
