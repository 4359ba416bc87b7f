//! The breakout edit lock (spec §12): one host at a time edits the plan; runtime commands are
//! never blocked by it.

use crate::control::admission::secrets_equal;
use crate::control::breakout::breakouts_disabled;
use crate::control::errors::{edit_locked, error, token_mismatch};
use crate::control::room::Needs;
use crate::control::wire_id::participant_to_wire;
use crate::control::{Room, Timer};
use crate::core::ParticipantId;
use signalling_proto::{
    BreakoutState, EditLockChangeReason, EditLockChanged, EditLockGrant, EditLockRefreshed,
    EditLockView, Empty, ErrorBody, ErrorCode, Event, Secret,
};
use std::time::Instant;

/// The lock as held (spec §5.8 `EditLock`). The token is a 128-bit random value, compared in
/// constant time and shown only to the holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EditLock {
    pub holder: ParticipantId,
    pub token: Secret,
    pub expires_at: Instant,
}

impl Room {
    /// The lock unless it expired: an expired lock is absent even before its timer ran
    /// (spec §5.9-9).
    fn live_lock(&self, now: Instant) -> Option<&EditLock> {
        self.state
            .breakout
            .edit_lock
            .as_ref()
            .filter(|l| l.expires_at > now)
    }

    pub(crate) fn edit_lock_view(&self, me: ParticipantId) -> Option<EditLockView> {
        self.state
            .breakout
            .edit_lock
            .as_ref()
            .map(|l| EditLockView {
                holder_id: participant_to_wire(l.holder),
                expires_at: self.timestamp(l.expires_at),
                token: (l.holder == me).then(|| l.token.clone()),
            })
    }

    fn edit_locked(&self, lock: &EditLock) -> ErrorBody {
        edit_locked(
            participant_to_wire(lock.holder),
            self.timestamp(lock.expires_at),
        )
    }

    /// A plan mutation by `caller` may go ahead (spec §12 "Mutations").
    pub(crate) fn check_plan_lock(
        &self,
        now: Instant,
        caller: ParticipantId,
        token: Option<&Secret>,
    ) -> Result<(), ErrorBody> {
        match self.live_lock(now) {
            None => Ok(()),
            Some(lock) if lock.holder != caller => Err(self.edit_locked(lock)),
            Some(lock) => match token {
                Some(t) if secrets_equal(t, &lock.token) => Ok(()),
                _ => Err(token_mismatch()),
            },
        }
    }

    /// After a successful plan mutation: the holder's TTL is refreshed, or the lock released
    /// on `releaseEditLock` (Webex `unlockEdit`).
    pub(crate) fn after_plan_mutation(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        release: bool,
    ) {
        let held = self
            .live_lock(now)
            .is_some_and(|lock| lock.holder == caller);
        if !held {
            return;
        }
        if release {
            self.drop_edit_lock(EditLockChangeReason::Released);
        } else {
            self.extend_lock(now);
        }
    }

    fn extend_lock(&mut self, now: Instant) {
        let at = now + self.policy.edit_lock_ttl;
        if let Some(lock) = self.state.breakout.edit_lock.as_mut() {
            lock.expires_at = at;
        }
        self.arm_timer(Timer::EditLockExpiry, at);
        self.breakout_changed();
    }

    /// `breakout_edit_lock_acquire` (and `breakout_get {acquireEditLock}`).
    pub(crate) fn acquire_edit_lock(
        &mut self,
        now: Instant,
        caller: ParticipantId,
    ) -> Result<EditLockGrant, ErrorBody> {
        self.require(caller, Needs::Host)?;
        if self.state.breakout.state == BreakoutState::Disabled {
            return Err(breakouts_disabled());
        }
        let token = match self.live_lock(now) {
            Some(lock) if lock.holder != caller => return Err(self.edit_locked(lock)),
            // A re-acquire by the holder returns the same token and refreshes it.
            Some(lock) => lock.token.clone(),
            None => {
                let token = self.mint_secret();
                self.state.breakout.edit_lock = Some(EditLock {
                    holder: caller,
                    token: token.clone(),
                    expires_at: now,
                });
                let hosts = self.hosts();
                let expires = self.timestamp(now + self.policy.edit_lock_ttl);
                self.send(
                    hosts,
                    Event::BreakoutEditLockChanged(EditLockChanged {
                        holder_id: Some(participant_to_wire(caller)),
                        expires_at: Some(expires),
                        reason: EditLockChangeReason::Acquired,
                    }),
                );
                token
            }
        };
        self.extend_lock(now);
        let ttl = u32::try_from(self.policy.edit_lock_ttl.as_secs()).unwrap_or(u32::MAX);
        Ok(EditLockGrant {
            token,
            ttl,
            expires_at: self.timestamp(now + self.policy.edit_lock_ttl),
        })
    }

    /// The lock `token` names, for refresh and release.
    fn held_lock(
        &self,
        now: Instant,
        caller: ParticipantId,
        token: &Secret,
    ) -> Result<(), ErrorBody> {
        self.require(caller, Needs::Host)?;
        if self.state.breakout.state == BreakoutState::Disabled {
            return Err(breakouts_disabled());
        }
        match self.live_lock(now) {
            None => Err(error(ErrorCode::EditLockNotHeld, "no edit lock is held")),
            Some(lock) if secrets_equal(&lock.token, token) => Ok(()),
            Some(_) => Err(token_mismatch()),
        }
    }

    /// `breakout_edit_lock_refresh`.
    pub(crate) fn refresh_edit_lock(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        token: &Secret,
    ) -> Result<EditLockRefreshed, ErrorBody> {
        self.held_lock(now, caller, token)?;
        self.extend_lock(now);
        Ok(EditLockRefreshed {
            expires_at: self.timestamp(now + self.policy.edit_lock_ttl),
        })
    }

    /// `breakout_edit_lock_release`.
    pub(crate) fn release_edit_lock(
        &mut self,
        now: Instant,
        caller: ParticipantId,
        token: &Secret,
    ) -> Result<Empty, ErrorBody> {
        self.held_lock(now, caller, token)?;
        self.drop_edit_lock(EditLockChangeReason::Released);
        Ok(Empty {})
    }

    /// Removes the lock, telling the hosts why (no-op without a lock).
    pub(crate) fn drop_edit_lock(&mut self, reason: EditLockChangeReason) {
        if self.state.breakout.edit_lock.take().is_none() {
            return;
        }
        self.state.timers.disarm(Timer::EditLockExpiry);
        let hosts = self.hosts();
        self.send(
            hosts,
            Event::BreakoutEditLockChanged(EditLockChanged {
                holder_id: None,
                expires_at: None,
                reason,
            }),
        );
        self.breakout_changed();
    }

    /// The TTL ran out without a refresh.
    pub(crate) fn edit_lock_expired(&mut self, now: Instant) {
        if self
            .state
            .breakout
            .edit_lock
            .as_ref()
            .is_some_and(|l| l.expires_at <= now)
        {
            self.drop_edit_lock(EditLockChangeReason::Expired);
        }
    }
}
