//! Capability sets from the spec, applied with the `caps` crate.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability};
use oci_spec::runtime::LinuxCapabilities;

use super::Error;

fn to_set(
    list: Option<&HashSet<oci_spec::runtime::Capability>>,
) -> Result<HashSet<Capability>, Error> {
    let mut out = HashSet::new();
    for c in list.into_iter().flatten() {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") { name } else { format!("CAP_{name}") };
        match Capability::from_str(&name) {
            Ok(cap) => {
                out.insert(cap);
            }
            // A capability this kernel/library does not know cannot be granted; skip it as
            // runc does for unknown capabilities.
            Err(_) => continue,
        }
    }
    Ok(out)
}

fn cap_err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::Spec(format!("{what}: {e}"))
}

/// Drop every capability not in the spec's bounding set (needs CAP_SETPCAP, so before the uid
/// change).
pub(crate) fn drop_bounding(c: Option<&LinuxCapabilities>) -> Result<(), Error> {
    let Some(c) = c else { return Ok(()) };
    let keep = to_set(c.bounding().as_ref())?;
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| cap_err("drop bounding cap", e))?;
        }
    }
    Ok(())
}

/// Set the effective, permitted, inheritable and ambient sets (after the uid change).
pub(crate) fn apply(c: Option<&LinuxCapabilities>) -> Result<(), Error> {
    let Some(c) = c else { return Ok(()) };
    let permitted = to_set(c.permitted().as_ref())?;
    let effective = to_set(c.effective().as_ref())?;
    let inheritable = to_set(c.inheritable().as_ref())?;
    let ambient = to_set(c.ambient().as_ref())?;
    // Each call rewrites one set and keeps the others, and the kernel checks
    // effective ⊆ permitted: shrink effective first, then permitted, then inheritable.
    caps::set(None, CapSet::Effective, &effective).map_err(|e| cap_err("set effective", e))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(|e| cap_err("set permitted", e))?;
    caps::set(None, CapSet::Inheritable, &inheritable).map_err(|e| cap_err("set inheritable", e))?;
    // Like runc, raise each ambient capability on a best-effort basis: the kernel refuses
    // those not both permitted and inheritable.
    for cap in ambient {
        let _ = caps::raise(None, CapSet::Ambient, cap);
    }
    Ok(())
}
