//! The classifier's maps as user space holds them: typed handles, and the
//! reads and writes a policy update and a counter report are made of.

use std::path::Path;

use aya::maps::{lpm_trie::Key, Array, LpmTrie, Map, MapData, MapError, PerCpuArray, PerCpuValues};
use aya::Ebpf;
use servos_ebpf_common::{
    Counter, GenerationSettings, IdentityV4Key, IdentityV6Key, PolicyKey, RuleRef, SlotOwner,
    ACTIVE_GENERATION_MAP, COUNTERS_MAP, DEFAULT_ALLOW, DEFAULT_DENY, IDENTITIES_V4_MAP,
    IDENTITIES_V6_MAP, MAX_RULES, POLICY_MAP, SETTINGS_MAP, SLOTS_MAP,
};

use crate::error::LoaderError;
use crate::policy::{identity_v4_key, identity_v6_key, CompiledPolicy, DefaultAction};
use crate::slots::SlotTable;

/// Packets and bytes, summed over every CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Handles on the maps user space reads and writes (the flow table is the
/// program's alone).
pub(crate) struct ClassifierMaps {
    active: Array<MapData, u32>,
    settings: Array<MapData, GenerationSettings>,
    identities_v4: LpmTrie<MapData, IdentityV4Key, u32>,
    identities_v6: LpmTrie<MapData, IdentityV6Key, u32>,
    policy: LpmTrie<MapData, PolicyKey, RuleRef>,
    counters: PerCpuArray<MapData, Counter>,
    slots: Array<MapData, SlotOwner>,
}

impl std::fmt::Debug for ClassifierMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // aya's array handles have no Debug; the trie handles would only show fds.
        f.debug_struct("ClassifierMaps").finish_non_exhaustive()
    }
}

fn map_error(name: &'static str) -> impl FnOnce(MapError) -> LoaderError {
    move |source| LoaderError::Map {
        name,
        source: Box::new(source),
    }
}

/// Takes the map `name` out of `ebpf` and gives it its type; a size that
/// does not match is a pinned map of an older layout when `pin_dir` is set.
fn take<T>(ebpf: &mut Ebpf, name: &'static str, pin_dir: Option<&Path>) -> Result<T, LoaderError>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = ebpf.take_map(name).ok_or(LoaderError::Missing(name))?;
    T::try_from(map).map_err(|source| match (pin_dir, &source) {
        (Some(dir), MapError::InvalidKeySize { .. } | MapError::InvalidValueSize { .. }) => {
            LoaderError::PinnedLayout {
                name,
                dir: dir.to_path_buf(),
                source: Box::new(source),
            }
        }
        _ => LoaderError::Map {
            name,
            source: Box::new(source),
        },
    })
}

impl ClassifierMaps {
    /// Takes the maps out of a loaded object.
    pub(crate) fn take(ebpf: &mut Ebpf, pin_dir: Option<&Path>) -> Result<Self, LoaderError> {
        Ok(Self {
            active: take(ebpf, ACTIVE_GENERATION_MAP, pin_dir)?,
            settings: take(ebpf, SETTINGS_MAP, pin_dir)?,
            identities_v4: take(ebpf, IDENTITIES_V4_MAP, pin_dir)?,
            identities_v6: take(ebpf, IDENTITIES_V6_MAP, pin_dir)?,
            policy: take(ebpf, POLICY_MAP, pin_dir)?,
            counters: take(ebpf, COUNTERS_MAP, pin_dir)?,
            slots: take(ebpf, SLOTS_MAP, pin_dir)?,
        })
    }

    /// The generation packets are classified with (0 or 1).
    pub(crate) fn active_generation(&self) -> Result<u8, LoaderError> {
        let generation = self
            .active
            .get(&0, 0)
            .map_err(map_error(ACTIVE_GENERATION_MAP))?;
        Ok((generation & 1) as u8)
    }

    /// Makes `generation` the one packets are classified with.
    pub(crate) fn activate(&mut self, generation: u8) -> Result<(), LoaderError> {
        self.active
            .set(0, u32::from(generation), 0)
            .map_err(map_error(ACTIVE_GENERATION_MAP))
    }

    /// Removes every identity and policy entry of `generation`.
    pub(crate) fn clear_generation(&mut self, generation: u8) -> Result<(), LoaderError> {
        clear(&mut self.identities_v4, IDENTITIES_V4_MAP, |key| {
            key.generation == generation
        })?;
        clear(&mut self.identities_v6, IDENTITIES_V6_MAP, |key| {
            key.generation == generation
        })?;
        clear(&mut self.policy, POLICY_MAP, |key| {
            key.generation == generation
        })
    }

    /// Writes `compiled` into `generation`, which must be empty, with the
    /// rules' slots from `slots`.
    pub(crate) fn write_generation(
        &mut self,
        generation: u8,
        compiled: &CompiledPolicy,
        slots: &SlotTable,
    ) -> Result<(), LoaderError> {
        for (net, id) in &compiled.identities_v4 {
            let (bits, data) = identity_v4_key(net, generation);
            self.identities_v4
                .insert(&Key::new(bits, data), id, 0)
                .map_err(map_error(IDENTITIES_V4_MAP))?;
        }
        for (net, id) in &compiled.identities_v6 {
            let (bits, data) = identity_v6_key(net, generation);
            self.identities_v6
                .insert(&Key::new(bits, data), id, 0)
                .map_err(map_error(IDENTITIES_V6_MAP))?;
        }
        let rule_slots = slots.rule_slots();
        for entry in &compiled.entries {
            let slot = rule_slots
                .get(&entry.rule_id)
                .copied()
                .ok_or(LoaderError::Missing("counter slot for a rule"))?;
            let (bits, data) = entry.key(generation);
            let rule = RuleRef {
                rule_id: entry.rule_id,
                slot,
                padding: 0,
            };
            self.policy
                .insert(&Key::new(bits, data), rule, 0)
                .map_err(map_error(POLICY_MAP))?;
        }
        let default_action = match compiled.default_action {
            DefaultAction::Allow => DEFAULT_ALLOW,
            DefaultAction::Deny => DEFAULT_DENY,
        };
        self.settings
            .set(
                u32::from(generation),
                GenerationSettings { default_action },
                0,
            )
            .map_err(map_error(SETTINGS_MAP))
    }

    /// The slot table as the slot map holds it.
    pub(crate) fn read_slots(&self) -> Result<SlotTable, LoaderError> {
        let owners = (0..MAX_RULES)
            .map(|slot| self.slots.get(&slot, 0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_error(SLOTS_MAP))?;
        Ok(SlotTable::from_owners(owners))
    }

    /// Writes the owner of each of `slots` from `table`.
    pub(crate) fn write_slots(
        &mut self,
        table: &SlotTable,
        slots: &[u32],
    ) -> Result<(), LoaderError> {
        for &slot in slots {
            let owner = table
                .owners()
                .get(slot as usize)
                .copied()
                .ok_or(LoaderError::Missing("slot in the slot table"))?;
            self.slots
                .set(slot, owner, 0)
                .map_err(map_error(SLOTS_MAP))?;
        }
        Ok(())
    }

    /// Sets the counters of `slot` to zero on every CPU.
    pub(crate) fn zero_counter(&mut self, slot: u32) -> Result<(), LoaderError> {
        let cpus = aya::util::nr_cpus().map_err(|(_, source)| LoaderError::Map {
            name: COUNTERS_MAP,
            source: Box::new(MapError::IoError(source)),
        })?;
        let zeros = PerCpuValues::try_from(vec![Counter::default(); cpus]).map_err(|source| {
            LoaderError::Map {
                name: COUNTERS_MAP,
                source: Box::new(MapError::IoError(source)),
            }
        })?;
        self.counters
            .set(slot, zeros, 0)
            .map_err(map_error(COUNTERS_MAP))
    }

    /// The counters of `slot`, summed over every CPU.
    pub(crate) fn count(&self, slot: u32) -> Result<Count, LoaderError> {
        let per_cpu = self
            .counters
            .get(&slot, 0)
            .map_err(map_error(COUNTERS_MAP))?;
        Ok(per_cpu.iter().fold(Count::default(), |sum, counter| Count {
            packets: sum.packets.wrapping_add(counter.packets),
            bytes: sum.bytes.wrapping_add(counter.bytes),
        }))
    }
}

/// Removes the keys of `trie` that `belongs` says to; keys are listed first,
/// since removing while walking would skip some.
fn clear<K: aya::Pod, V: aya::Pod>(
    trie: &mut LpmTrie<MapData, K, V>,
    name: &'static str,
    belongs: impl Fn(&K) -> bool,
) -> Result<(), LoaderError> {
    let keys = trie
        .keys()
        .collect::<Result<Vec<Key<K>>, _>>()
        .map_err(map_error(name))?;
    for key in keys.iter().filter(|key| belongs(&key.data())) {
        trie.remove(key).map_err(map_error(name))?;
    }
    Ok(())
}
