//! Putting the program on an interface at ingress and egress, or taking over
//! the attachment an earlier run left, replacing its program atomically.
//!
//! On kernels from 6.6 the attachment is a TCX link, which lives as long as
//! a file descriptor or a pin refers to it: the links are pinned in the pin
//! folder, and a restarted loader finds them there. Older kernels attach
//! through netlink (a cls_bpf filter on the clsact qdisc), which outlives
//! the process by itself; the filter has a fixed priority and handle, so a
//! restarted loader replaces it in place. Either way the old program keeps
//! enforcing until the new one has taken its place: there is never a second
//! attachment, nor a moment without one.

use std::io;
use std::path::Path;

use aya::programs::links::{FdLink, LinkError, PinnedLink};
use aya::programs::tc::{self, NlOptions, SchedClassifierLink, TcAttachOptions, TcHandle};
use aya::programs::{Link as _, LinkOrder, ProgramError, SchedClassifier, TcAttachType};
use aya::util::KernelVersion;

use crate::error::LoaderError;

/// How the classifier is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// TCX links where the kernel has them (6.6 and later), else netlink.
    Auto,
    /// Pinned TCX links.
    Tcx,
    /// cls_bpf filters on the clsact qdisc.
    Netlink,
}

/// An attachment at ingress and egress of one interface.
#[derive(Debug)]
pub(crate) enum Attachment {
    /// Pinned TCX links.
    Tcx {
        /// The ingress link.
        ingress: PinnedLink,
        /// The egress link.
        egress: PinnedLink,
    },
    /// Netlink filters with [`NETLINK_PRIORITY`] and [`NETLINK_HANDLE`].
    Netlink {
        /// The interface they are on.
        interface: String,
    },
}

/// Priority of the netlink filters: fixed, so that a restart finds them.
const NETLINK_PRIORITY: u16 = 0x5e05;
/// Handle of the netlink filters.
const NETLINK_HANDLE: TcHandle = TcHandle::new(0, 1);

/// What the kernel answers when the qdisc or filter is already there.
const EEXIST: i32 = nix::errno::Errno::EEXIST as i32;

/// Each direction, with the file name of its TCX link's pin.
const DIRECTIONS: [(TcAttachType, &str); 2] = [
    (TcAttachType::Ingress, "link_ingress"),
    (TcAttachType::Egress, "link_egress"),
];

/// Attaches `program` (loaded) to `interface` at ingress and egress, or
/// replaces the program of the attachment found there.
pub(crate) fn attach_or_replace(
    program: &mut SchedClassifier,
    interface: &str,
    pin_dir: &Path,
    mode: AttachMode,
) -> Result<Attachment, LoaderError> {
    let use_tcx = match mode {
        AttachMode::Tcx => true,
        AttachMode::Netlink => false,
        AttachMode::Auto => {
            KernelVersion::current().is_ok_and(|version| version >= KernelVersion::new(6, 6, 0))
        }
    };
    if !use_tcx {
        // An interface that has the qdisc already answers EEXIST.
        if let Err(err) = tc::qdisc_add_clsact(interface) {
            if os_error(&err) != Some(EEXIST) {
                return Err(attach_error("add the clsact qdisc for", interface)(
                    ProgramError::TcError(err),
                ));
            }
        }
        for (direction, _) in DIRECTIONS {
            netlink_attach_or_replace(program, interface, direction)?;
        }
        return Ok(Attachment::Netlink {
            interface: interface.to_owned(),
        });
    }
    let [(ingress_type, ingress_file), (egress_type, egress_file)] = DIRECTIONS;
    let ingress = tcx_attach_or_replace(
        program,
        interface,
        ingress_type,
        &pin_dir.join(ingress_file),
    )?;
    let egress =
        tcx_attach_or_replace(program, interface, egress_type, &pin_dir.join(egress_file))?;
    Ok(Attachment::Tcx { ingress, egress })
}

fn attach_error(action: &'static str, interface: &str) -> impl FnOnce(ProgramError) -> LoaderError {
    let interface = interface.to_owned();
    move |source| LoaderError::Attach {
        action,
        interface,
        source: Box::new(source),
    }
}

fn link_error<E>(path: &Path) -> impl FnOnce(E) -> LoaderError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let path = path.to_path_buf();
    move |source| LoaderError::Link {
        path,
        source: Box::new(source),
    }
}

/// The first OS error code in `err`'s chain of sources.
fn os_error(err: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(code) = err
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(code);
        }
        current = err.source();
    }
    None
}

/// Replaces the program of the link pinned at `pin` when that link is
/// attached to `interface`; otherwise (no pin, or a link left from an
/// interface that is gone) attaches anew, first in line, and pins the link.
fn tcx_attach_or_replace(
    program: &mut SchedClassifier,
    interface: &str,
    direction: TcAttachType,
    pin: &Path,
) -> Result<PinnedLink, LoaderError> {
    match PinnedLink::from_pin(pin) {
        Ok(pinned) => {
            let link = FdLink::from(pinned);
            if is_attached_to(&link, pin, interface, direction)? {
                let link = SchedClassifierLink::try_from(link).map_err(link_error(pin))?;
                let id = program
                    .attach_to_link(link)
                    .map_err(attach_error("replace the program of", interface))?;
                // The link is the one pinned: keep a handle, not a second pin.
                program
                    .take_link(id)
                    .map_err(attach_error("take the link of", interface))?;
                return PinnedLink::from_pin(pin).map_err(link_error(pin));
            }
            std::fs::remove_file(pin).map_err(|source| LoaderError::Io {
                action: "removing the stale link",
                path: pin.to_path_buf(),
                source,
            })?;
        }
        Err(LinkError::SyscallError(err)) if err.io_error.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(link_error(pin)(err)),
    }
    let id = program
        .attach_with_options(
            interface,
            direction,
            TcAttachOptions::TcxOrder(LinkOrder::first()),
        )
        .map_err(attach_error("attach", interface))?;
    let link = program
        .take_link(id)
        .map_err(attach_error("take the link of", interface))?;
    let link = FdLink::try_from(link).map_err(link_error(pin))?;
    link.pin(pin).map_err(link_error(pin))
}

/// Whether the program behind `link` is attached to `interface` in
/// `direction` (a TCX link outlives its interface, detached).
fn is_attached_to(
    link: &FdLink,
    pin: &Path,
    interface: &str,
    direction: TcAttachType,
) -> Result<bool, LoaderError> {
    let program_id = link.info().map_err(link_error(pin))?.program_id();
    let (_, attached) = SchedClassifier::query_tcx(interface, direction)
        .map_err(attach_error("list the programs attached to", interface))?;
    Ok(attached.iter().any(|info| info.id() == program_id))
}

/// Creates the netlink filter of `direction`, or, when it exists, replaces
/// its program.
fn netlink_attach_or_replace(
    program: &mut SchedClassifier,
    interface: &str,
    direction: TcAttachType,
) -> Result<(), LoaderError> {
    let options = NlOptions {
        priority: NETLINK_PRIORITY,
        handle: NETLINK_HANDLE,
        classid: None,
    };
    let id = match program.attach_with_options(
        interface,
        direction,
        TcAttachOptions::Netlink(options),
    ) {
        Ok(id) => id,
        Err(err) if os_error(&err) == Some(EEXIST) => {
            let existing = SchedClassifierLink::attached(
                interface,
                direction,
                NETLINK_PRIORITY,
                NETLINK_HANDLE,
                None,
            )
            .map_err(|source| attach_error("find the filter on", interface)(source.into()))?;
            program
                .attach_to_link(existing)
                .map_err(attach_error("replace the program of", interface))?
        }
        Err(err) => return Err(attach_error("attach", interface)(err)),
    };
    let link = program
        .take_link(id)
        .map_err(attach_error("take the link of", interface))?;
    // Dropping a netlink link removes its filter; the filter must stay, and
    // the handle holds no descriptor, so nothing is lost by forgetting it.
    std::mem::forget(link);
    Ok(())
}

/// Removes the attachment: the pins of TCX links (which detaches them once
/// no descriptor is left), or the netlink filters.
pub(crate) fn detach(attachment: Attachment, pin_dir: &Path) -> Result<(), LoaderError> {
    match attachment {
        Attachment::Tcx { ingress, egress } => {
            for link in [ingress, egress] {
                // Closing the last descriptor of an unpinned link detaches it.
                link.unpin().map_err(|source| LoaderError::Io {
                    action: "unpinning a link in",
                    path: pin_dir.to_path_buf(),
                    source,
                })?;
            }
            Ok(())
        }
        Attachment::Netlink { interface } => {
            for (direction, _) in DIRECTIONS {
                let link = SchedClassifierLink::attached(
                    &interface,
                    direction,
                    NETLINK_PRIORITY,
                    NETLINK_HANDLE,
                    None,
                )
                .map_err(|source| attach_error("find the filter on", &interface)(source.into()))?;
                link.detach().map_err(attach_error("detach", &interface))?;
            }
            Ok(())
        }
    }
}
