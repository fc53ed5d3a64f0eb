//! Which counter slot each rule counts in. A rule keeps its slot for as
//! long as it exists, so its counters keep rising across policy updates
//! and agent restarts (the table lives in a pinned map); a removed rule's
//! slot is reused only from the update after its removal, when no packet
//! can still be classified with a generation that names it.

use std::collections::{BTreeMap, BTreeSet};

use servos_ebpf_common::{SlotOwner, MAX_RULES, SLOT_FREE, SLOT_IN_USE, SLOT_RELEASED};

use crate::policy::PolicyError;

/// The owner of every rule slot, as kept in the classifier's slot map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotTable {
    owners: Vec<SlotOwner>,
}

/// A new slot table and what changed to get there.
#[derive(Debug)]
pub struct SlotPlan {
    /// The table after the update.
    pub table: SlotTable,
    /// Slots given to a rule by this update: their counters start at zero,
    /// and the classifier must know the owner before the new generation is
    /// active.
    pub claimed: Vec<u32>,
    /// Slots whose rule this update removed: written once the new
    /// generation is active, so that the old one's flows keep passing
    /// until then.
    pub released: Vec<u32>,
    /// Slots released by the previous update, free from now on.
    pub freed: Vec<u32>,
}

impl SlotTable {
    /// The table as read from the slot map (shorter input is padded with
    /// free slots, longer input cut to [`MAX_RULES`]).
    pub fn from_owners(mut owners: Vec<SlotOwner>) -> Self {
        owners.resize(MAX_RULES as usize, SlotOwner::default());
        Self { owners }
    }

    /// The owner of every slot, in slot order.
    pub fn owners(&self) -> &[SlotOwner] {
        &self.owners
    }

    /// Every rule that has a slot, with its slot, by rule id.
    pub fn rule_slots(&self) -> BTreeMap<u64, u32> {
        self.slots_in(SLOT_IN_USE)
            .map(|(slot, owner)| (owner.rule_id, slot))
            .collect()
    }

    fn slots_in(&self, state: u32) -> impl Iterator<Item = (u32, &SlotOwner)> + '_ {
        (0u32..)
            .zip(&self.owners)
            .filter(move |(_, owner)| owner.state == state)
    }

    /// Gives every rule of `rule_ids` a slot: the one it has, else the
    /// lowest free one; rules not in `rule_ids` release theirs.
    pub fn assign(&self, rule_ids: &[u64]) -> Result<SlotPlan, PolicyError> {
        let wanted: BTreeSet<u64> = rule_ids.iter().copied().collect();
        let mut table = self.clone();
        let mut plan_released = Vec::new();
        let mut freed = Vec::new();
        let mut kept = BTreeSet::new();
        for (slot, owner) in (0u32..).zip(table.owners.iter_mut()) {
            match owner.state {
                SLOT_IN_USE if wanted.contains(&owner.rule_id) => {
                    kept.insert(owner.rule_id);
                }
                SLOT_IN_USE => {
                    owner.state = SLOT_RELEASED;
                    plan_released.push(slot);
                }
                SLOT_RELEASED => {
                    *owner = SlotOwner::default();
                    freed.push(slot);
                }
                _ => {}
            }
        }
        let mut claimed = Vec::new();
        let mut free_slots = (0u32..)
            .zip(table.owners.iter_mut())
            .filter(|(_, owner)| owner.state == SLOT_FREE);
        for &rule_id in wanted.difference(&kept) {
            let (slot, owner) = free_slots.next().ok_or(PolicyError::NoFreeSlot(rule_id))?;
            *owner = SlotOwner {
                rule_id,
                state: SLOT_IN_USE,
                padding: 0,
            };
            claimed.push(slot);
        }
        Ok(SlotPlan {
            table,
            claimed,
            released: plan_released,
            freed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots_of(table: &SlotTable) -> Vec<(u64, u32)> {
        table.rule_slots().into_iter().collect()
    }

    #[test]
    fn a_rule_keeps_its_slot_while_others_come_and_go() -> Result<(), PolicyError> {
        let first = SlotTable::from_owners(Vec::new()).assign(&[7, 9, 3])?;
        assert_eq!(slots_of(&first.table), [(3, 0), (7, 1), (9, 2)]);
        assert_eq!(first.claimed, [0, 1, 2]);

        let second = first.table.assign(&[9, 11])?;
        assert_eq!(second.released, [0, 1]);
        // Slots 0 and 1 were released by this very update: rule 11 gets 3.
        assert_eq!(slots_of(&second.table), [(9, 2), (11, 3)]);
        assert_eq!(second.claimed, [3]);

        let third = second.table.assign(&[9, 11, 12])?;
        assert_eq!(third.freed, [0, 1]);
        assert_eq!(slots_of(&third.table), [(9, 2), (11, 3), (12, 0)]);
        assert_eq!(third.claimed, [0]);
        Ok(())
    }

    #[test]
    fn the_same_rules_change_nothing() -> Result<(), PolicyError> {
        let first = SlotTable::from_owners(Vec::new()).assign(&[1, 2])?;
        let again = first.table.assign(&[2, 1])?;
        assert_eq!(again.table, first.table);
        assert!(again.claimed.is_empty() && again.released.is_empty() && again.freed.is_empty());
        Ok(())
    }

    #[test]
    fn running_out_of_slots_names_the_rule() -> Result<(), PolicyError> {
        let all: Vec<u64> = (0..u64::from(MAX_RULES)).collect();
        let full = SlotTable::from_owners(Vec::new()).assign(&all)?;
        let replaced: Vec<u64> = (1..=u64::from(MAX_RULES)).collect();
        // Rule 0's slot is released by this update, so the new rule finds none.
        assert_eq!(
            full.table.assign(&replaced).err(),
            Some(PolicyError::NoFreeSlot(u64::from(MAX_RULES)))
        );
        Ok(())
    }

    #[test]
    fn a_table_read_back_is_the_table_written() -> Result<(), PolicyError> {
        let plan = SlotTable::from_owners(Vec::new()).assign(&[5])?;
        let read = SlotTable::from_owners(plan.table.owners.clone());
        assert_eq!(read, plan.table);
        assert_eq!(read.owners()[0].rule_id, 5);
        Ok(())
    }
}
