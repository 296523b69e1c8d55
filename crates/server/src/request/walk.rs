//! The walk over targets and their accounts that chat, the pass-through endpoints (audio,
//! image edits) and video jobs share: a target's dollar budgets, its accounts in the
//! strategy's order, a concurrency slot and the day's request count for each one tried, one
//! try, what a failure costs the account, and whether the next account, the next target or
//! nobody is tried after it. Written once, so a rule added here (a budget, a cap, a
//! cluster-wide counter) holds for every endpoint alike; each endpoint supplies only how it
//! prepares a target's request and how it tries one account.

use std::sync::Arc;
use std::time::Duration;

use switchyard_hub::{ApiError, Format};
use switchyard_provider::Failure;

use crate::cluster::Refused;
use crate::request::deliver::{self, Budgets, Delivery, Verdict};
use crate::request::record::Call;
use crate::request::resolve::Target;
use crate::state::app::{Account, InFlight, Provider};

/// How one endpoint tries one account with what it prepared for the account's target.
pub(super) trait Walk {
    /// The request as it goes to one target (its body, its upload).
    type Prepared;
    /// What a successful try gives back.
    type Done;

    /// One try on `account`; `last` when no account of this target follows it, so the
    /// prepared body may be taken instead of copied.
    async fn attempt(
        &mut self,
        call: &mut Call,
        provider: &Provider,
        account: &Arc<Account>,
        target: &Target,
        prepared: &mut Self::Prepared,
        last: bool,
    ) -> Result<Self::Done, Failure>;

    /// Whether another account may still be tried after a failed try (a streamed upload
    /// that went upstream cannot be sent again).
    fn may_go_on(&self, _prepared: &Self::Prepared) -> bool {
        true
    }
}

/// How an endpoint prepares each target's request, for [`Delivery::walk_targets`].
pub(super) trait WalkTargets: Walk {
    /// Whether `provider` can serve the endpoint at all (a target that cannot is skipped).
    fn serves(&self, provider: &Provider) -> bool;

    /// The request for `target` on `provider`.
    fn prepare(
        &mut self,
        call: &mut Call,
        provider: &Provider,
        target: &Target,
    ) -> Result<Self::Prepared, Failure>;
}

/// How the accounts of one target went.
pub(super) enum Walked<T> {
    /// An account answered with success; the slot stays taken while the answer is read.
    Done(T, InFlight),
    /// Every account tried failed, or the failure says no other account of this target
    /// would do better: the first failure worth reporting.
    Failed(Failure),
    /// No account could take the request at all (cooling down, busy, at a limit).
    Unavailable(Failure),
    /// The request itself is wrong, or cannot be sent again: no other target is tried.
    Stop(Failure),
}

impl Delivery<'_> {
    /// Tries `target`'s accounts in the strategy's order until one answers with success.
    /// Failures are judged as `format`'s (the format the request went out in).
    pub(super) async fn walk_accounts<W: Walk>(
        &self,
        call: &mut Call,
        provider: &Provider,
        target: &Target,
        format: Format,
        walk: &mut W,
        prepared: &mut W::Prepared,
    ) -> Walked<W::Done> {
        let budgets = Budgets::of(self.app, self.live, provider);
        if let Err(spent) = budgets.provider() {
            return Walked::Failed(spent);
        }
        let order = self.order(provider, target);
        let mut first: Option<Failure> = None;
        let mut earliest = order.earliest_free;
        let count = order.accounts.len();
        for (i, account) in order.accounts.into_iter().enumerate() {
            if let Err(spent) = budgets.account(&account.name) {
                first.get_or_insert(spent);
                continue;
            }
            let Some(mut slot) = account.acquire() else {
                continue;
            };
            if let Some(cluster) = crate::cluster::active() {
                let now = switchyard_hub::clock::now();
                let offset = self.live.config.routing.day_offset_secs;
                match cluster.admit_account(&account, now, offset).await {
                    Ok(shared) => slot.share(shared),
                    Err(Refused::Busy) => continue,
                    Err(Refused::DayLimit(until)) => {
                        earliest = Some(earliest.map_or(until, |e| e.min(until)));
                        continue;
                    }
                }
            }
            call.attempting(&account.name);
            account.lock_health().day_requests += 1;
            let tried = walk
                .attempt(call, provider, &account, target, prepared, i + 1 == count)
                .await;
            let failure = match tried {
                Ok(done) => {
                    self.succeeded(call, provider, &account, &target.model);
                    return Walked::Done(done, slot);
                }
                Err(failure) => failure,
            };
            self.charge(call, provider, &account, &target.model, &failure);
            match deliver::judge(provider, &target.model, format, failure, &mut first) {
                Verdict::Next => {}
                Verdict::Failed(f) => return Walked::Failed(f),
                Verdict::Stop(f) => return Walked::Stop(f),
            }
            if !walk.may_go_on(prepared) {
                return Walked::Stop(first.unwrap_or_else(|| {
                    Failure::connection("the request went upstream and cannot be sent again")
                }));
            }
        }
        match first {
            Some(f) => Walked::Failed(f),
            None => Walked::Unavailable(deliver::unavailable(provider, &target.model, earliest)),
        }
    }

    /// Tries each target in order, and each of its accounts, until one answers with
    /// success; otherwise the first failure worth reporting, saying when the first account
    /// frees up if every one is cooling down.
    pub(super) async fn walk_targets<W: WalkTargets>(
        &self,
        call: &mut Call,
        targets: &[Target],
        walk: &mut W,
    ) -> Result<(W::Done, InFlight), Failure> {
        let mut first: Option<Failure> = None;
        for (index, target) in targets.iter().enumerate() {
            let provider = self.live.providers.get(target.provider).ok_or_else(|| {
                Failure::request(ApiError::internal("resolved provider is missing"))
            })?;
            if !walk.serves(provider) {
                continue;
            }
            call.targeting(index, &provider.name, &target.model);
            let mut prepared = walk.prepare(call, provider, target)?;
            match self
                .walk_accounts(call, provider, target, self.client, walk, &mut prepared)
                .await
            {
                Walked::Done(done, slot) => return Ok((done, slot)),
                Walked::Failed(f) | Walked::Unavailable(f) => {
                    first.get_or_insert(f);
                }
                Walked::Stop(f) => return Err(f),
            }
        }
        let mut failure =
            first.ok_or_else(|| Failure::request(ApiError::internal("no target to try")))?;
        if let Some(until) = deliver::earliest_free(self.live, targets) {
            let wait = until
                .duration_since(switchyard_hub::clock::now())
                .unwrap_or_default();
            failure.retry_after = Some(wait.max(Duration::from_secs(1)));
        }
        Err(failure)
    }
}
