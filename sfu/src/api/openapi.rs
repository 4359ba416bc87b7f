//! The OpenAPI 3.1 document of the API, generated: paths from [`COMMAND_ROUTES`] and
//! [`CUSTOM_ROUTES`], schemas from the Rust types (`schemars`, the generator that also makes
//! `signalling-proto/schema/protocol.schema.json`), so the document cannot drift from the
//! code. `docs/openapi.json` is its output; a test keeps the file current
//! (`UPDATE_OPENAPI=1 cargo test -p sfu --lib api::openapi` rewrites it).

use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};
use signalling_proto::{
    Changed, Empty, ErrorBody, ParticipantView, SendChatMessageResult, SetDisplayNameArgs,
};

use crate::api::routes::{CommandRoute, Method, COMMAND_ROUTES};
use crate::api::types::{
    ChatRequest, CreateRoomRequest, MuteRequest, ParticipantList, RemoveRequest, RoomDetails,
    RoomList, TokenIssued, TokenRequest,
};
use crate::api::PREFIX;
use crate::webhook::WebhookBody;

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// An endpoint with its own handler (not one command).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CustomRoute {
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    pub request: Option<SchemaFn>,
    pub response: SchemaFn,
    pub status: &'static str,
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

const fn custom(
    method: Method,
    path: &'static str,
    summary: &'static str,
    request: Option<SchemaFn>,
    response: SchemaFn,
) -> CustomRoute {
    CustomRoute {
        method,
        path,
        summary,
        request,
        response,
        status: "200",
    }
}

/// The endpoints `crate::api::router` registers with their own handlers; DELETE is described
/// by [`Method::Post`]'s neighbour below.
pub(crate) const CUSTOM_ROUTES: &[CustomRoute] = &[
    custom(
        Method::Get,
        "/rooms",
        "Every running room.",
        None,
        schema::<RoomList>,
    ),
    CustomRoute {
        status: "201",
        ..custom(
            Method::Post,
            "/rooms",
            "Create a room with its own policy; it stays open while empty until ended.",
            Some(schema::<CreateRoomRequest>),
            schema::<RoomDetails>,
        )
    },
    custom(
        Method::Get,
        "/rooms/{room}",
        "One room as a host sees it.",
        None,
        schema::<RoomDetails>,
    ),
    custom(
        Method::Get,
        "/rooms/{room}/participants",
        "The admitted participants.",
        None,
        schema::<ParticipantList>,
    ),
    custom(
        Method::Get,
        "/rooms/{room}/participants/{participantId}",
        "One participant.",
        None,
        schema::<ParticipantView>,
    ),
    custom(
        Method::Post,
        "/rooms/{room}/participants/{participantId}/remove",
        "Remove (kick) a participant; its identity is banned for the room session.",
        Some(schema::<RemoveRequest>),
        schema::<Empty>,
    ),
    custom(
        Method::Post,
        "/rooms/{room}/participants/{participantId}/mute",
        "Mute a participant's audio or video, or ask it to unmute.",
        Some(schema::<MuteRequest>),
        schema::<Empty>,
    ),
    custom(
        Method::Post,
        "/rooms/{room}/participants/{participantId}/name",
        "Change a participant's display name (client_metadata_received to everyone).",
        Some(schema::<SetDisplayNameArgs>),
        schema::<Changed>,
    ),
    custom(
        Method::Post,
        "/rooms/{room}/chat",
        "Send a chat message as the system (senderId p0).",
        Some(schema::<ChatRequest>),
        schema::<SendChatMessageResult>,
    ),
    CustomRoute {
        status: "201",
        ..custom(
            Method::Post,
            "/rooms/{room}/tokens",
            "Mint a join token for the room (default role assistant: a program in the meeting).",
            Some(schema::<TokenRequest>),
            schema::<TokenIssued>,
        )
    },
];

/// `DELETE /rooms/{room}`.
const END_ROOM: CustomRoute = custom(
    Method::Post,
    "/rooms/{room}",
    "End the meeting for everybody (end_meeting); the room stops once empty.",
    None,
    schema::<Empty>,
);

/// The document as a JSON value.
pub(crate) fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
    });
    let mut generator = settings.into_generator();
    let error = generator.subschema_for::<ErrorBody>().to_value();
    let mut paths: Map<String, Value> = Map::new();
    let mut add = |path: &str, method: &str, operation: Value| {
        let entry = paths
            .entry(format!("{PREFIX}{path}"))
            .or_insert_with(|| json!({}));
        entry[method] = operation;
    };
    for route in CUSTOM_ROUTES {
        let request = route.request.map(|f| f(&mut generator).to_value());
        let response = (route.response)(&mut generator).to_value();
        add(
            route.path,
            route.method.as_str(),
            operation(
                route.path,
                route.summary,
                request,
                route.status,
                response,
                &error,
            ),
        );
    }
    let response = (END_ROOM.response)(&mut generator).to_value();
    add(
        END_ROOM.path,
        "delete",
        operation(
            END_ROOM.path,
            END_ROOM.summary,
            None,
            "200",
            response,
            &error,
        ),
    );
    for route in COMMAND_ROUTES {
        let (args, result) = route.command.schemas(&mut generator);
        let request = (route.method == Method::Post).then(|| args.to_value());
        let summary = format!("{} (command `{}`)", route.summary, route.command.as_str());
        add(
            route.path,
            route.method.as_str(),
            command_operation(route, &summary, request, result.to_value(), &error),
        );
    }
    let webhook = generator.subschema_for::<WebhookBody>().to_value();
    let schemas = generator.definitions().clone();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "SFU server API",
            "version": "1",
            "description": "Rooms, participants and breakouts for a backend. Authenticate with \
                an admin token: an HS256 JWT signed with the server's API secret whose claims \
                are {\"sub\", \"exp\" (at most 24 h ahead), \"admin\": {} or {\"room\": R}}. \
                Errors are the signalling protocol's error object {code, message, details}.",
        },
        "security": [{"adminToken": []}],
        "paths": paths,
        "webhooks": {
            "roomEvent": {
                "post": {
                    "summary": "One event of one room, signed: Sfu-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, \"<t>.<body>\")>.",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": webhook}}},
                    "responses": {"2XX": {"description": "Delivered; anything else is retried (5xx, timeouts) or given up (4xx)."}},
                },
            },
        },
        "components": {
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "schemas": schemas,
        },
    })
}

/// The document as served and committed: pretty JSON with a final newline.
pub(crate) fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
        text.push('\n');
        text
    })
}

fn parameters(path: &str) -> Value {
    let names = path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'));
    Value::Array(
        names
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect(),
    )
}

fn operation(
    path: &str,
    summary: &str,
    request: Option<Value>,
    status: &str,
    response: Value,
    error: &Value,
) -> Value {
    let mut op = json!({
        "summary": summary,
        "parameters": parameters(path),
        "responses": responses(status, response, error),
    });
    if let Some(request) = request {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": request}}});
    }
    op
}

fn command_operation(
    route: &CommandRoute,
    summary: &str,
    request: Option<Value>,
    result: Value,
    error: &Value,
) -> Value {
    let mut op = operation(route.path, summary, request, "200", result, error);
    op["operationId"] = json!(route.command.as_str());
    op
}

fn responses(status: &str, response: Value, error: &Value) -> Value {
    let error_response = |description: &str| json!({"description": description, "content": {"application/json": {"schema": error}}});
    json!({
        status: {"description": "Success.", "content": {"application/json": {"schema": response}}},
        "400": error_response("invalid_argument (details.field names the field) or invalid_request."),
        "401": error_response("invalid_credential: no, bad, expired or too long-lived admin token."),
        "403": error_response("forbidden: no admin grant (e.g. a participant's join token) or not for this room."),
        "404": error_response("room_not_found, participant_not_found, session_not_found, ..."),
        "409": error_response("The room's state does not allow it (the protocol's code says why); in a cluster, wrong_node: the room runs on (or was just placed on) another node, whose API root and id are details.url and details.nodeId."),
        "503": error_response("placement_unavailable: the cluster store does not answer or no node can take a new room; server_draining."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

    // The committed document is the one the code generates. `UPDATE_OPENAPI=1` (or
    // `UPDATE_SCHEMA=1`, which also rewrites the protocol's schema) rewrites it.
    #[test]
    fn committed_openapi_is_generated_from_the_types() {
        let now = document_text();
        if std::env::var_os("UPDATE_OPENAPI").is_some()
            || std::env::var_os("UPDATE_SCHEMA").is_some()
        {
            std::fs::write(FILE, now).expect("write docs/openapi.json");
        }
        let committed = std::fs::read_to_string(FILE).unwrap_or_default();
        assert!(
            committed == now,
            "{FILE} is stale: run `UPDATE_OPENAPI=1 cargo test -p sfu --lib api::openapi`"
        );
    }

    // Every schema reference resolves inside the document.
    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap_or_default();
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling $ref {name}"
            );
        }
    }
}
