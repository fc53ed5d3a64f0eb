//! The classifier as the agent holds it: load and attach (or adopt what an
//! earlier run left), policy updates, counters, removal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aya::programs::SchedClassifier;
use aya::{Ebpf, EbpfLoader};
use servos_ebpf_common::{
    DEFAULT_ALLOWED_SLOT, DEFAULT_DENIED_SLOT, IP_OFFSET_GLOBAL, MAP_NAMES, PROGRAM_NAME,
};

use crate::attach::{self, AttachMode, Attachment};
use crate::bpffs::ensure_bpffs;
use crate::error::LoaderError;
use crate::maps::{ClassifierMaps, Count};
use crate::object::classifier_object;
use crate::policy::CompiledPolicy;
use crate::slots::{SlotPlan, SlotTable};

/// What comes before the IP header in the interface's packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkLayer {
    /// Nothing: packets start with the IP header (WireGuard and other TUN
    /// interfaces).
    RawIp,
    /// A 14-byte Ethernet header (veth pairs, and `BPF_PROG_TEST_RUN`, which
    /// always hands the program an Ethernet frame).
    Ethernet,
}

impl LinkLayer {
    /// Offset of the IP header in a packet.
    pub fn ip_offset(self) -> u32 {
        match self {
            Self::RawIp => 0,
            Self::Ethernet => 14,
        }
    }
}

/// Packet and byte counts since the classifier was first attached (they
/// survive restarts of the agent, in pinned maps).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Per rule id, for every rule of the policy in force.
    pub rules: BTreeMap<u64, Count>,
    /// Packets no rule allowed (malformed ones included), passed by a
    /// default-allow policy.
    pub default_allowed: Count,
    /// Packets no rule allowed (malformed ones included), dropped by a
    /// default-deny policy.
    pub default_denied: Count,
}

/// The mesh classifier on one interface: handles on its maps and links only;
/// the program itself lives in the kernel as long as the attachment does.
#[derive(Debug)]
pub struct Classifier {
    maps: ClassifierMaps,
    slots: SlotTable,
    attachment: Option<(Attachment, PathBuf)>,
}

/// Loads the embedded object with the IP offset of `link_layer`, its maps
/// pinned in `pin_dir` (reusing those found there) or, without one, private
/// to this process; the program is verified and loaded, not attached.
pub(crate) fn load(
    link_layer: LinkLayer,
    pin_dir: Option<&Path>,
) -> Result<(Ebpf, Classifier), LoaderError> {
    let ip_offset = link_layer.ip_offset();
    let mut loader = EbpfLoader::new();
    loader.override_global(IP_OFFSET_GLOBAL, &ip_offset, true);
    if let Some(dir) = pin_dir {
        for name in MAP_NAMES {
            loader.map_pin_path(name, dir.join(name));
        }
    }
    let mut ebpf = loader
        .load(classifier_object())
        .map_err(|err| LoaderError::Object(Box::new(err)))?;
    let maps = ClassifierMaps::take(&mut ebpf, pin_dir)?;
    program(&mut ebpf)?
        .load()
        .map_err(|err| LoaderError::Verifier(Box::new(err)))?;
    let slots = maps.read_slots()?;
    Ok((
        ebpf,
        Classifier {
            maps,
            slots,
            attachment: None,
        },
    ))
}

/// The classifier program of a loaded object.
pub(crate) fn program(ebpf: &mut Ebpf) -> Result<&mut SchedClassifier, LoaderError> {
    ebpf.program_mut(PROGRAM_NAME)
        .ok_or(LoaderError::Missing("classifier program"))?
        .try_into()
        .map_err(|_| LoaderError::Missing("classifier program of type sched_cls"))
}

impl Classifier {
    /// Attaches the classifier to `interface` at ingress and egress, with
    /// its maps and links pinned in `pin_dir` (one folder per host, on a BPF
    /// file system, mounted at `/sys/fs/bpf` if missing), or adopts what an
    /// earlier run pinned there: its maps (policy, flows, counters) are kept,
    /// and the program in its attachment is replaced in one step by this
    /// build's. Needs root (CAP_BPF and CAP_NET_ADMIN).
    ///
    /// A classifier never given a policy drops every IP packet.
    pub fn attach_or_adopt(
        interface: &str,
        pin_dir: &Path,
        link_layer: LinkLayer,
    ) -> Result<Self, LoaderError> {
        Self::attach_or_adopt_with(interface, pin_dir, link_layer, AttachMode::Auto)
    }

    /// [`Classifier::attach_or_adopt`], choosing how to attach.
    pub fn attach_or_adopt_with(
        interface: &str,
        pin_dir: &Path,
        link_layer: LinkLayer,
        mode: AttachMode,
    ) -> Result<Self, LoaderError> {
        ensure_bpffs(pin_dir)?;
        std::fs::create_dir_all(pin_dir).map_err(|source| LoaderError::Io {
            action: "creating",
            path: pin_dir.to_path_buf(),
            source,
        })?;
        let (mut ebpf, mut classifier) = load(link_layer, Some(pin_dir))?;
        let attachment = attach::attach_or_replace(program(&mut ebpf)?, interface, pin_dir, mode)?;
        classifier.attachment = Some((attachment, pin_dir.to_path_buf()));
        // The object's handles go; the attachment keeps the program.
        drop(ebpf);
        Ok(classifier)
    }

    /// Puts `policy` in force: written whole into the generation packets do
    /// not use, which is then made the active one. The generation it
    /// replaces stays as it was until the next update clears it, so a packet
    /// classified just before the switch finishes on a complete policy.
    pub fn apply(&mut self, policy: &CompiledPolicy) -> Result<(), LoaderError> {
        let plan = self.slots.assign(&policy.rule_ids)?;
        let written = self.write(policy, &plan);
        match written {
            Ok(()) => self.slots = plan.table,
            // Some slot owners may have been written: read back what is.
            Err(_) => self.slots = self.maps.read_slots()?,
        }
        written
    }

    fn write(&mut self, policy: &CompiledPolicy, plan: &SlotPlan) -> Result<(), LoaderError> {
        let next = self.maps.active_generation()? ^ 1;
        // Left from the update before the last (or one cut short).
        self.maps.clear_generation(next)?;
        self.maps.write_slots(&plan.table, &plan.freed)?;
        for &slot in &plan.claimed {
            self.maps.zero_counter(slot)?;
        }
        self.maps.write_slots(&plan.table, &plan.claimed)?;
        self.maps.write_generation(next, policy, &plan.table)?;
        self.maps.activate(next)?;
        self.maps.write_slots(&plan.table, &plan.released)
    }

    /// The counters of every rule in force and of the default action.
    pub fn counters(&self) -> Result<Counters, LoaderError> {
        let mut rules = BTreeMap::new();
        for (rule_id, slot) in self.slots.rule_slots() {
            rules.insert(rule_id, self.maps.count(slot)?);
        }
        Ok(Counters {
            rules,
            default_allowed: self.maps.count(DEFAULT_ALLOWED_SLOT)?,
            default_denied: self.maps.count(DEFAULT_DENIED_SLOT)?,
        })
    }

    /// Detaches the classifier and removes its pins (maps, counters and
    /// flows go with them).
    pub fn detach(mut self) -> Result<(), LoaderError> {
        let Some((attachment, pin_dir)) = self.attachment.take() else {
            return Ok(());
        };
        attach::detach(attachment, &pin_dir)?;
        for name in MAP_NAMES {
            let path = pin_dir.join(name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(LoaderError::Io {
                        action: "removing",
                        path,
                        source,
                    })
                }
            }
        }
        std::fs::remove_dir(&pin_dir).map_err(|source| LoaderError::Io {
            action: "removing",
            path: pin_dir,
            source,
        })
    }
}
