//! The API's handlers. Each checks the admin token first (401/403 before anything about the
//! room is revealed), then the input (400 naming the field), then asks the room actor.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use signalling_proto::{
    decode_value, is_valid_room_name, ArgumentReason, ClientMessage, Command, CommandResult,
    InvalidArgumentDetails, ParticipantId, RequestEnableArgs, SendChatMessageArgs,
    SetDisplayNameArgs,
};
use tracing::info;

use crate::api::auth::{self, AdminGrant};
use crate::api::error::ApiError;
use crate::api::routes::CommandRoute;
use crate::api::types::{
    check_reason, ChatRequest, CreateRoomRequest, MediaKind, MuteRequest, ParticipantList,
    RemoveRequest, RoomDetails, RoomList, RoomSummary, TokenIssued, TokenRequest,
};
use crate::api::{openapi, ApiState};
use crate::clock;
use crate::room::{Placed, RoomHandle};
use crate::token::{is_token_role, Claims};
use signalling_proto::{ErrorBody, Role, Timestamp};
use std::time::Duration;

type ApiResult = Result<Response, ApiError>;

/// The caller's grant, from `Authorization: Bearer <admin token>`.
fn grant(state: &ApiState, headers: &HeaderMap) -> Result<AdminGrant, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    Ok(auth::authorize(&state.tokens, header, clock::system_now())?)
}

/// The path parameters, or 400 when they do not decode.
fn params(
    params: Result<Path<HashMap<String, String>>, PathRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    params
        .map(|Path(params)| params)
        .map_err(|rejection| ApiError::invalid_request(rejection.body_text()))
}

/// The running room `name` the caller may act on: 401/403 first, then 400 for a bad name,
/// then, for a room this node does not run, 409 `wrong_node` naming the node that does (one
/// store round trip in a cluster), else 404.
async fn room(state: &ApiState, headers: &HeaderMap, name: &str) -> Result<RoomHandle, ApiError> {
    let grant = grant(state, headers)?;
    check_room_name(name)?;
    if !grant.covers(name) {
        return Err(auth::AuthError::Forbidden.into());
    }
    if let Some(handle) = state.rooms.get(name) {
        return Ok(handle);
    }
    match state.rooms.owner_elsewhere(name).await {
        Ok(Some(owner)) => Err(ApiError::wrong_node(name, &owner)),
        Ok(None) => Err(ApiError::room_not_found()),
        Err(refusal) => Err(ApiError::from_body(refusal)),
    }
}

fn check_room_name(name: &str) -> Result<(), ApiError> {
    if is_valid_room_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid_argument(&InvalidArgumentDetails::new(
            "room",
            ArgumentReason::InvalidChars,
        )))
    }
}

fn path_value<'a>(params: &'a HashMap<String, String>, key: &str) -> &'a str {
    params.get(key).map_or("", String::as_str)
}

/// A JSON body decoded with field-named errors; an empty body is `{}`.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let value = json_body(bytes)?;
    decode_value(&value).map_err(|error| ApiError::from_argument_error(&error))
}

fn json_body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(bytes)
        .map_err(|error| ApiError::invalid_request(format!("the body is not JSON: {error}")))
}

/// Runs `command` in `room` as the system; a room that stopped meanwhile is 404.
async fn system(room: &RoomHandle, command: Command) -> Result<CommandResult, ApiError> {
    room.system_command(command)
        .await
        .ok_or_else(ApiError::room_not_found)?
        .map_err(ApiError::from_body)
}

fn ok(value: impl serde::Serialize) -> ApiResult {
    Ok(Json(value).into_response())
}

/// `GET /openapi.json` (no credentials: the document is public).
pub(crate) async fn openapi_document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document_text(),
    )
        .into_response()
}

/// `GET /rooms`: every running room the grant covers.
pub(crate) async fn list_rooms(State(state): State<ApiState>, headers: HeaderMap) -> ApiResult {
    let grant = grant(&state, &headers)?;
    let mut rooms = Vec::new();
    for handle in state.rooms.rooms() {
        if !grant.covers(handle.name()) {
            continue;
        }
        // A room that stopped between the listing and the question is simply not listed.
        if let Some(description) = handle.describe().await {
            rooms.push(RoomSummary::of(&description));
        }
    }
    ok(RoomList { rooms })
}

/// `POST /rooms`: a room with its own policy, kept open while empty until ended.
pub(crate) async fn create_room(
    State(state): State<ApiState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let grant = grant(&state, &headers)?;
    let request: CreateRoomRequest = body(&bytes)?;
    if !is_valid_room_name(&request.name) {
        return Err(ApiError::invalid_argument(&InvalidArgumentDetails::new(
            "name",
            ArgumentReason::InvalidChars,
        )));
    }
    if !grant.covers(&request.name) {
        return Err(auth::AuthError::Forbidden.into());
    }
    let policy = request
        .policy
        .apply(state.rooms.default_policy())
        .map_err(|details| ApiError::invalid_argument(&details))?;
    if state.rooms.get(&request.name).is_some() {
        return Err(ApiError::room_exists());
    }
    // The same placement as a first join (one store round trip in a cluster): the room
    // starts here or the caller is sent to its node.
    let epoch = match state
        .rooms
        .place_new(&request.name, false)
        .await
        .map_err(ApiError::from_body)?
    {
        Placed::Here(epoch) => epoch,
        Placed::Elsewhere(owner) => return Err(ApiError::wrong_node(&request.name, &owner)),
    };
    let handle = state
        .rooms
        .create_placed(&request.name, policy, epoch)
        .ok_or_else(ApiError::room_exists)?;
    info!(room = %request.name, "room created through the API");
    let description = handle
        .describe()
        .await
        .ok_or_else(ApiError::room_not_found)?;
    Ok((StatusCode::CREATED, Json(RoomDetails::of(description))).into_response())
}

/// `GET /rooms/{room}`.
pub(crate) async fn get_room(
    State(state): State<ApiState>,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let params = params(path)?;
    let room = room(&state, &headers, path_value(&params, "room")).await?;
    let description = room.describe().await.ok_or_else(ApiError::room_not_found)?;
    ok(RoomDetails::of(description))
}

/// `DELETE /rooms/{room}`: `end_meeting` for everybody; the room stops once empty.
pub(crate) async fn end_room(
    State(state): State<ApiState>,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let params = params(path)?;
    let room = room(&state, &headers, path_value(&params, "room")).await?;
    room.end()
        .await
        .ok_or_else(ApiError::room_not_found)?
        .map_err(ApiError::from_body)?;
    info!(room = room.name(), "meeting ended through the API");
    ok(json!({}))
}

/// `GET /rooms/{room}/participants`.
pub(crate) async fn list_participants(
    State(state): State<ApiState>,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let params = params(path)?;
    let room = room(&state, &headers, path_value(&params, "room")).await?;
    let description = room.describe().await.ok_or_else(ApiError::room_not_found)?;
    ok(ParticipantList {
        participants: description.view.participants,
    })
}

/// `GET /rooms/{room}/participants/{participantId}`.
pub(crate) async fn get_participant(
    State(state): State<ApiState>,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let params = params(path)?;
    let room = room(&state, &headers, path_value(&params, "room")).await?;
    let id = ParticipantId(path_value(&params, "participantId").to_owned());
    let view = room
        .participant(id)
        .await
        .ok_or_else(ApiError::room_not_found)?
        .map_err(ApiError::from_body)?;
    ok(view)
}

/// `POST /rooms/{room}/participants/{participantId}/remove`: `kick_participant` (the identity
/// is banned for the room session), with the reason logged.
pub(crate) async fn remove_participant(
    State(state): State<ApiState>,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let params = params(path)?;
    let room = room(&state, &headers, path_value(&params, "room")).await?;
    let request: RemoveRequest = body(&bytes)?;
    check_reason(request.reason.as_deref()).map_err(|d| ApiError::invalid_argument(&d))?;
    let id = path_value(&params, "participantId").to_owned();
    room.remove(ParticipantId(id.clone()), request.reason.clone())
        .await
        .ok_or_else(ApiError::room_not_found)?
        .map_err(ApiError::from_body)?;
    info!(room = room.name(), participant = %id, reason = request.reason.as_deref().unwrap_or(""),
          "participant removed through the API");
    ok(json!({}))
}

/// `POST /rooms/{room}/participants/{participantId}/mute`: `request_audio_enable` /
/// `request_video_enable` for one participant.
pub(crate) async fn mute_participant(
    State(state): State<ApiState>,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let params = params(path)?;
    let room = room(&state, &headers, path_value(&params, "room")).await?;
    let request: MuteRequest = body(&bytes)?;
    let args = RequestEnableArgs {
        participant_ids: vec![ParticipantId(
            path_value(&params, "participantId").to_owned(),
        )],
        enable: !request.muted,
    };
    let command = match request.kind {
        MediaKind::Audio => Command::RequestAudioEnable(args),
        MediaKind::Video => Command::RequestVideoEnable(args),
    };
    system(&room, command).await?;
    ok(json!({}))
}

/// `POST /rooms/{room}/participants/{participantId}/name`: a new display name.
pub(crate) async fn rename_participant(
    State(state): State<ApiState>,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let params = params(path)?;
    let room = room(&state, &headers, path_value(&params, "room")).await?;
    let args: SetDisplayNameArgs = body(&bytes)?;
    let id = ParticipantId(path_value(&params, "participantId").to_owned());
    let changed = room
        .rename(id, args)
        .await
        .ok_or_else(ApiError::room_not_found)?
        .map_err(ApiError::from_body)?;
    ok(changed)
}

/// `POST /rooms/{room}/chat`: a chat message from the system.
pub(crate) async fn send_chat(
    State(state): State<ApiState>,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let params = params(path)?;
    let room = room(&state, &headers, path_value(&params, "room")).await?;
    let request: ChatRequest = body(&bytes)?;
    let result = system(
        &room,
        Command::SendChatMessage(SendChatMessageArgs {
            text: request.text,
            parent_id: None,
            broadcast: request.broadcast,
            client_msg_id: None,
        }),
    )
    .await?;
    ok(result)
}

/// `POST /rooms/{room}/tokens`: a join token for `room` (the room need not run yet), by
/// default an `assistant` token for a program in the meeting.
pub(crate) async fn create_token(
    State(state): State<ApiState>,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    let params = params(path)?;
    let grant = grant(&state, &headers)?;
    let room = path_value(&params, "room");
    check_room_name(room)?;
    if !grant.covers(room) {
        return Err(auth::AuthError::Forbidden.into());
    }
    let request: TokenRequest = body(&bytes)?;
    let role = request.role.unwrap_or(Role::Assistant);
    if !is_token_role(role) || role == Role::Captioner {
        return Err(ApiError::invalid_argument(&InvalidArgumentDetails::new(
            "role",
            ArgumentReason::InvalidValue,
        )));
    }
    let ttl = request.ttl_seconds.unwrap_or(3600);
    if !(1..=MAX_TOKEN_TTL_SECONDS).contains(&ttl) {
        return Err(ApiError::invalid_argument(&InvalidArgumentDetails {
            min: Some(1),
            max: Some(i64::from(MAX_TOKEN_TTL_SECONDS)),
            ..InvalidArgumentDetails::new(
                "ttlSeconds",
                if ttl == 0 {
                    ArgumentReason::BelowMinimum
                } else {
                    ArgumentReason::AboveMaximum
                },
            )
        }));
    }
    let now = clock::system_now();
    let mut claims = Claims::new(room, request.identity, role)
        .expiring_after(Duration::from_secs(u64::from(ttl)), now);
    claims.name = request.name;
    let token = state.tokens.sign(&claims).map_err(|error| {
        ApiError::from_body(ErrorBody::invalid_argument(
            &InvalidArgumentDetails::new(error.field, ArgumentReason::InvalidValue),
            format!("{}: {}", error.field, error.rule),
        ))
    })?;
    let expires_at = now + Duration::from_secs(u64::from(ttl));
    let millis = expires_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    info!(room, ?role, "join token minted through the API");
    Ok((
        StatusCode::CREATED,
        Json(TokenIssued {
            token,
            role,
            expires_at: Timestamp::from_unix_millis(millis),
        }),
    )
        .into_response())
}

/// The longest join token the API mints: a day.
const MAX_TOKEN_TTL_SECONDS: u32 = 86_400;

/// A [`CommandRoute`]: the body is the command's `args` (plus the path argument), decoded by
/// the protocol's own decoder, so a bad field is the same `invalid_argument` a socket gets.
pub(crate) async fn run_command(
    State(state): State<ApiState>,
    route: &'static CommandRoute,
    path: Result<Path<HashMap<String, String>>, PathRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let result: ApiResult = async {
        let params = params(path)?;
        let room = room(&state, &headers, path_value(&params, "room")).await?;
        let mut args = json_body(&bytes)?;
        if let (Some(key), Value::Object(map)) = (route.path_arg, &mut args) {
            map.insert(
                key.to_owned(),
                Value::String(path_value(&params, key).to_owned()),
            );
        }
        let envelope = json!({
            "type": "command",
            "name": route.command.as_str(),
            "reqId": "api",
            "args": args,
        });
        let command = ClientMessage::from_value(&envelope)
            .map_err(|error| ApiError::from_body(error.error))?
            .command;
        let result = system(&room, command).await?;
        ok(result)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
