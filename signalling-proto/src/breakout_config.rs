//! Breakout configuration and its partial update (spec §5.8, §8.7 `breakout_configure`).

use crate::InvalidArgumentDetails;
use serde::{Deserialize, Serialize};

/// `BreakoutConfig` with the spec's defaults (spec §5.8). Wire names are the camelCase forms,
/// except `automaticallyEndBreakoutsAfter` (the seed's name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakoutConfig {
    /// Seconds of closing countdown, 0..=300; 0 = immediate return.
    pub countdown_timer: u32,
    pub allow_return_to_main: bool,
    pub allow_join_later: bool,
    /// Seconds until the run ends by itself, `null` or 300..=86400.
    #[serde(
        rename = "automaticallyEndBreakoutsAfter",
        deserialize_with = "crate::nullable::required"
    )]
    pub automatically_end_after: Option<u32>,
    pub assignment_method: AssignmentMethod,
    pub auto_move_assigned: bool,
    /// Seconds before an assigned participant is moved, 0..=120.
    pub move_grace_period: u32,
    pub mute_on_return_to_main: MuteOnReturn,
    /// `null` or 1..=1000.
    #[serde(deserialize_with = "crate::nullable::required")]
    pub max_session_size: Option<u32>,
}

impl Default for BreakoutConfig {
    fn default() -> Self {
        Self {
            countdown_timer: 60,
            allow_return_to_main: true,
            allow_join_later: true,
            automatically_end_after: Some(1800),
            assignment_method: AssignmentMethod::Manual,
            auto_move_assigned: true,
            move_grace_period: 10,
            mute_on_return_to_main: MuteOnReturn::Audio,
            max_session_size: None,
        }
    }
}

/// How participants get a session (spec §11.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentMethod {
    Auto,
    Manual,
    Choose,
}

/// What is switched off when a non-host returns to `MAIN` (spec §11.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MuteOnReturn {
    None,
    Audio,
    AudioVideo,
}

/// `Partial<BreakoutConfig>`: absent fields are kept; for the two nullable fields `null` clears
/// the value and is different from absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakoutConfigPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countdown_timer: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_return_to_main: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_join_later: Option<bool>,
    #[serde(
        rename = "automaticallyEndBreakoutsAfter",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::nullable::patch"
    )]
    pub automatically_end_after: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_method: Option<AssignmentMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_move_assigned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_grace_period: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute_on_return_to_main: Option<MuteOnReturn>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::nullable::patch"
    )]
    pub max_session_size: Option<Option<u32>>,
}

impl BreakoutConfigPatch {
    /// The ranges of spec §8.7 `breakout_configure`. `prefix` is the path of the patch inside
    /// `args` (`"config"`), so the error names `config.countdownTimer`.
    pub fn check_ranges(&self, prefix: &str) -> Result<(), InvalidArgumentDetails> {
        let field = |name: &str| format!("{prefix}.{name}");
        let check = |name: &str, value: Option<u32>, min: i64, max: i64| match value.map(i64::from)
        {
            Some(v) if !(min..=max).contains(&v) => Err(InvalidArgumentDetails::out_of_range(
                field(name),
                v,
                min,
                max,
            )),
            _ => Ok(()),
        };
        check("countdownTimer", self.countdown_timer, 0, 300)?;
        check(
            "automaticallyEndBreakoutsAfter",
            self.automatically_end_after.flatten(),
            300,
            86_400,
        )?;
        check("moveGracePeriod", self.move_grace_period, 0, 120)?;
        check("maxSessionSize", self.max_session_size.flatten(), 1, 1000)?;
        Ok(())
    }

    /// The fields that may change while a run is `started` (spec §8.7): every other field set
    /// here is `breakout_active`. Returns the wire name of the first offending field.
    pub fn first_field_locked_while_started(&self) -> Option<&'static str> {
        if self.automatically_end_after.is_some() {
            Some("automaticallyEndBreakoutsAfter")
        } else if self.assignment_method.is_some() {
            Some("assignmentMethod")
        } else if self.auto_move_assigned.is_some() {
            Some("autoMoveAssigned")
        } else if self.move_grace_period.is_some() {
            Some("moveGracePeriod")
        } else {
            None
        }
    }
}

impl BreakoutConfig {
    /// Applies a (range-checked) patch.
    pub fn apply(&mut self, patch: &BreakoutConfigPatch) {
        if let Some(v) = patch.countdown_timer {
            self.countdown_timer = v;
        }
        if let Some(v) = patch.allow_return_to_main {
            self.allow_return_to_main = v;
        }
        if let Some(v) = patch.allow_join_later {
            self.allow_join_later = v;
        }
        if let Some(v) = patch.automatically_end_after {
            self.automatically_end_after = v;
        }
        if let Some(v) = patch.assignment_method {
            self.assignment_method = v;
        }
        if let Some(v) = patch.auto_move_assigned {
            self.auto_move_assigned = v;
        }
        if let Some(v) = patch.move_grace_period {
            self.move_grace_period = v;
        }
        if let Some(v) = patch.mute_on_return_to_main {
            self.mute_on_return_to_main = v;
        }
        if let Some(v) = patch.max_session_size {
            self.max_session_size = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ArgumentReason;
    use serde_json::json;

    // Spec §14 #36: 120 s of auto end is below the 300 s minimum, and the error says so.
    #[test]
    fn auto_end_below_minimum_names_field_and_bound() {
        let patch: BreakoutConfigPatch =
            serde_json::from_value(json!({"automaticallyEndBreakoutsAfter": 120})).unwrap();
        let err = patch.check_ranges("config").unwrap_err();
        assert_eq!(err.field, "config.automaticallyEndBreakoutsAfter");
        assert_eq!(err.reason, ArgumentReason::BelowMinimum);
        assert_eq!(err.min, Some(300));
    }

    // Each range of §8.7 at and just past its bounds.
    #[test]
    fn ranges_of_breakout_configure() {
        let ok = |v: serde_json::Value| {
            serde_json::from_value::<BreakoutConfigPatch>(v)
                .unwrap()
                .check_ranges("config")
        };
        assert!(ok(json!({"countdownTimer": 0})).is_ok());
        assert!(ok(json!({"countdownTimer": 300})).is_ok());
        assert_eq!(
            ok(json!({"countdownTimer": 301})).unwrap_err().reason,
            ArgumentReason::AboveMaximum
        );
        assert!(ok(json!({"automaticallyEndBreakoutsAfter": null})).is_ok());
        assert!(ok(json!({"automaticallyEndBreakoutsAfter": 86400})).is_ok());
        assert!(ok(json!({"automaticallyEndBreakoutsAfter": 86401})).is_err());
        assert!(ok(json!({"moveGracePeriod": 121})).is_err());
        assert!(ok(json!({"maxSessionSize": 0})).is_err());
        assert!(ok(json!({"maxSessionSize": null})).is_ok());
    }

    // In a patch, `null` clears a nullable field while absence keeps it.
    #[test]
    fn patch_distinguishes_null_from_absent() {
        let mut config = BreakoutConfig {
            max_session_size: Some(5),
            ..BreakoutConfig::default()
        };
        let keep: BreakoutConfigPatch = serde_json::from_value(json!({})).unwrap();
        config.apply(&keep);
        assert_eq!(config.max_session_size, Some(5));
        let clear: BreakoutConfigPatch =
            serde_json::from_value(json!({"maxSessionSize": null})).unwrap();
        config.apply(&clear);
        assert_eq!(config.max_session_size, None);
        assert_eq!(
            serde_json::to_value(&clear).unwrap(),
            json!({"maxSessionSize": null})
        );
    }

    // The defaults of §5.8 under their wire names.
    #[test]
    fn default_config_on_the_wire() {
        assert_eq!(
            serde_json::to_value(BreakoutConfig::default()).unwrap(),
            json!({
                "countdownTimer": 60, "allowReturnToMain": true, "allowJoinLater": true,
                "automaticallyEndBreakoutsAfter": 1800, "assignmentMethod": "manual",
                "autoMoveAssigned": true, "moveGracePeriod": 10,
                "muteOnReturnToMain": "audio", "maxSessionSize": null
            })
        );
    }
}
